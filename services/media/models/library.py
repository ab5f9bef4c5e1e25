"""The media library on the wire (camelCase): a page of items with counts and quotas, a site's
images, the change a user may make to an item, and the problem of finding none. An item is
`MediaItem`, as an upload answers it."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from services.media.models.uploads import (
    DESCRIPTION_MAX,
    TAG_MAX,
    TAGS_MAX,
    MediaItem,
    content_url,
)
from shared.errors import NotFound
from shared.wire import RequestBody

FileType = Literal["image", "video", "pdf", "text"]

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 100

Description = Annotated[
    str, Meta(max_length=DESCRIPTION_MAX, description=f"At most {DESCRIPTION_MAX} characters")
]
Tag = Annotated[str, Meta(min_length=1, max_length=TAG_MAX, pattern=r"^[^\x00-\x1f\x7f]+$")]
Tags = Annotated[
    list[Tag],
    Meta(max_length=TAGS_MAX, description=f"At most {TAGS_MAX} tags of 1-{TAG_MAX} characters"),
]


# Requests ----------------------------------------------------------------------------------------


class MediaChange(RequestBody):
    """What to change about a library item: only the fields given (null clears the
    description)."""

    description: Description | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.tags is not UNSET and len("".join(self.tags)) > DESCRIPTION_MAX:
            raise ValueError(f"Expected tags of at most {DESCRIPTION_MAX} characters - at `$.tags`")

    def columns(self) -> dict[str, Any]:
        """The given fields, as media_library's columns."""
        return {
            name: value
            for name, value in msgspec.structs.asdict(self).items()
            if value is not UNSET
        }


# Responses ---------------------------------------------------------------------------------------


class Quota(msgspec.Struct, frozen=True, rename="camel"):
    limit: int
    used: int
    left: int


class Quotas(msgspec.Struct, frozen=True, rename="camel"):
    """What the user may still upload: images and videos are limited, pdf and text are not."""

    images: Quota
    videos: Quota


class LibraryPage(msgspec.Struct, frozen=True, rename="camel"):
    """A page of the user's library, newest first; `nextBefore` continues it (`?before=`; null:
    this is the last page). `counts` (per file type) and `quotas` are over the whole library."""

    items: list[MediaItem]
    next_before: UUID | None
    counts: dict[str, int]
    quotas: Quotas


class Usage(msgspec.Struct, frozen=True):
    """A row of `media_usage()`: the caller's files of one type and that type's quota."""

    file_type: str
    used: int
    quota: int | None


def quotas(usage: list[Usage]) -> Quotas:
    """Images' and videos' quotas as `media_usage()` states them."""
    of_type = {row.file_type: row for row in usage}

    def quota(file_type: str) -> Quota:
        row = of_type[file_type]
        limit = row.quota or 0
        return Quota(limit=limit, used=row.used, left=max(limit - row.used, 0))

    return Quotas(images=quota("image"), videos=quota("video"))


class ProjectImage(msgspec.Struct, frozen=True, rename="camel"):
    """An image of one of the user's sites; `mediaId` and `contentUrl` name its library item
    (null when the item was deleted by itself)."""

    id: UUID
    project_id: UUID
    filename: str
    original_name: str | None
    mime_type: str | None
    size_bytes: int | None
    created_at: datetime
    media_id: UUID | None = None
    content_url: str | None = None

    def of_item(self, media_id: UUID | None) -> "ProjectImage":
        if media_id is None:
            return self
        return msgspec.structs.replace(self, media_id=media_id, content_url=content_url(media_id))


class ProjectImages(msgspec.Struct, frozen=True, rename="camel"):
    """A site's images, newest first."""

    images: list[ProjectImage]


# Problems ----------------------------------------------------------------------------------------


class MediaNotFound(NotFound):
    """No library item of the caller's has this id (another user's is not told apart)."""

    code = "media_not_found"
    title = "No such file"

    def __init__(self) -> None:
        super().__init__("There is no file in your library with this id.")
