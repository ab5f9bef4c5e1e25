"""Sites on the wire (camelCase): a site, its page of the list, what a create or change may say,
and the problems of having too many or none."""

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from services.projects.models.saves import SavedData
from shared.errors import NotFound, Problem, ValidationFailed
from shared.wire import RequestBody

MAX_PAGE = 100
"""The most sites one page of the list holds; the cached first page holds this many."""

# The size limits of app_projects' columns in SQL.
SiteName = Annotated[str, Meta(min_length=1, max_length=200, description="The site's name")]
Category = Annotated[str, Meta(max_length=100, description="What kind of site, e.g. restaurant")]
Description = Annotated[str, Meta(max_length=2000)]
ThumbnailPath = Annotated[
    str, Meta(max_length=1024, description="Where the site's thumbnail is stored")
]

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
CURSOR_DESCRIPTION = "`nextCursor` of the previous page"


# Requests ----------------------------------------------------------------------------------------


class SiteCreate(RequestBody):
    """A new site of the caller's."""

    name: SiteName
    category: Category | None = None
    description: Description | None = None


class SiteChange(RequestBody):
    """What to change about a site: only the fields given (null clears an optional one)."""

    name: SiteName | UnsetType = UNSET
    category: Category | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET
    thumbnail_path: ThumbnailPath | UnsetType | None = UNSET

    def columns(self) -> dict[str, Any]:
        """The given fields, as app_projects' columns."""
        return {
            name: value
            for name, value in msgspec.structs.asdict(self).items()
            if value is not UNSET
        }


# Responses ---------------------------------------------------------------------------------------


class Site(msgspec.Struct, frozen=True, rename="camel"):
    """One of the caller's sites."""

    id: UUID
    name: str
    category: str | None
    description: str | None
    thumbnail_path: str | None
    created_at: datetime
    updated_at: datetime


class AppProject(Site, frozen=True, rename="camel"):
    """A site in the list, with the preview URL of its latest save."""

    demo_url: str | None


class SiteWithData(Site, frozen=True, rename="camel"):
    """A site and its saved work; `data` is null until the first save."""

    data: SavedData | None


class AppProjectList(msgspec.Struct, frozen=True, rename="camel"):
    """Sites, newest first; `nextCursor` (as `before`) fetches the older ones, null at the end."""

    projects: list[AppProject]
    next_cursor: str | None = None


# The key of the newest site on the next page: its (created_at, id) as the database wrote them.
class PageKey(msgspec.Struct, frozen=True, array_like=True):
    created_at: datetime
    id: UUID

    def cursor(self) -> str:
        """The key as an opaque, URL-safe string."""
        return base64.urlsafe_b64encode(msgspec.json.encode(self)).rstrip(b"=").decode()

    @classmethod
    def of(cls, cursor: str) -> "PageKey":
        """The key a cursor names; a 422 naming `before` when it names none."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            return msgspec.json.decode(raw, type=cls)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            errors = [{"field": "before", "in": "query", "message": "Not a cursor of this list"}]
            raise ValidationFailed("Invalid: before.", errors=errors) from None


# Problems ----------------------------------------------------------------------------------------


class SiteNotFound(NotFound):
    """No site of the caller's has this id (someone else's is no different)."""

    code = "project_not_found"
    title = "No such site"

    def __init__(self) -> None:
        super().__init__("There is no such site.")


class ProjectLimitReached(Problem):
    """The caller has as many sites as its tier allows (guest 3, free 10, pro 100)."""

    status = 403
    code = "project_limit_reached"
    title = "Site limit reached"

    def __init__(self) -> None:
        super().__init__(
            "You have as many sites as your plan allows: delete one or upgrade to create more.",
            projectsRemaining=0,
        )
