"""A site's versions on the wire (camelCase): the list, pinned first, and the pin change."""

from datetime import datetime
from uuid import UUID

import msgspec

from shared.errors import NotFound
from shared.wire import RequestBody


class SiteVersion(msgspec.Struct, frozen=True, rename="camel"):
    """A version a generation of the site made: `id` is ours (pin it, deploy it), `v0VersionId`
    and `v0ChatId` v0's; `demoUrl` its preview."""

    id: UUID
    v0_version_id: str
    v0_chat_id: str
    demo_url: str | None
    pinned: bool
    pinned_at: datetime | None
    created_at: datetime


class VersionList(msgspec.Struct, frozen=True, rename="camel"):
    """Pinned versions first (newest pin first), then the others, newest first."""

    versions: list[SiteVersion]


class VersionPin(RequestBody):
    """Pin (true) or unpin (false) a version."""

    pinned: bool


class VersionNotFound(NotFound):
    """No version of this site (of the caller's) has this id."""

    code = "version_not_found"
    title = "No such version"

    def __init__(self) -> None:
        super().__init__("The site has no version with this id.")
