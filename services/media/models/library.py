"""The media library on the wire (camelCase): items, a page of them with counts and quotas,
a site's images, the change a user may make, and the problems of finding one."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shared.errors import NotFound
from shared.wire import RequestBody

FileType = Literal["image", "video", "pdf", "text", "other"]
FILE_TYPES: tuple[FileType, ...] = ("image", "video", "pdf", "text", "other")

IMAGE_QUOTA = 10
"""Images one user may keep (enforced in SQL by the uploads' quota rule)."""
VIDEO_QUOTA = 3
"""Videos one user may keep (enforced in SQL by the uploads' quota rule)."""

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 100

ITEM_COLUMNS = (
    "id",
    "filename",
    "original_name",
    "mime_type",
    "file_type",
    "size_bytes",
    "description",
    "tags",
    "project_id",
    "created_at",
    "file_path",
)

Description = Annotated[str, Meta(max_length=2000, description="At most 2,000 characters")]
Tag = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")]
Tags = Annotated[list[Tag], Meta(max_length=50, description="At most 50 tags of 1-40 characters")]


# Requests ----------------------------------------------------------------------------------------


class MediaChange(RequestBody):
    """What to change about a library item: only the fields given (null clears the
    description)."""

    description: Description | UnsetType | None = UNSET
    tags: Tags | UnsetType = UNSET

    def columns(self) -> dict[str, Any]:
        """The given fields, as media_library's columns."""
        return {
            name: value
            for name, value in msgspec.structs.asdict(self).items()
            if value is not UNSET
        }


# Responses ---------------------------------------------------------------------------------------


class LibraryItem(msgspec.Struct, frozen=True, rename="camel"):
    """One file of the user's library; its bytes are at `url` (`/media/{id}/content`)."""

    id: UUID
    filename: str
    original_name: str
    mime_type: str
    file_type: FileType
    size_bytes: int
    description: str | None
    tags: list[str]
    project_id: UUID | None
    created_at: datetime
    url: str


class StoredItem(msgspec.Struct, frozen=True):
    """A library row as the service reads it, with where its bytes are stored."""

    id: UUID
    filename: str
    original_name: str
    mime_type: str
    file_type: FileType
    size_bytes: int
    description: str | None
    tags: list[str]
    project_id: UUID | None
    created_at: datetime
    file_path: str

    def item(self) -> LibraryItem:
        return LibraryItem(
            id=self.id,
            filename=self.filename,
            original_name=self.original_name,
            mime_type=self.mime_type,
            file_type=self.file_type,
            size_bytes=self.size_bytes,
            description=self.description,
            tags=self.tags,
            project_id=self.project_id,
            created_at=self.created_at,
            url=content_url(self.id),
        )


def content_url(item_id: UUID) -> str:
    return f"/media/{item_id}/content"


class Quota(msgspec.Struct, frozen=True, rename="camel"):
    limit: int
    used: int
    left: int


class Quotas(msgspec.Struct, frozen=True, rename="camel"):
    """What the user may still upload: images and videos are limited, pdf and text are not."""

    images: Quota
    videos: Quota


class LibraryPage(msgspec.Struct, frozen=True, rename="camel"):
    """A page of the user's library, newest first; `nextBefore` continues it (null: the last
    page). `counts` and `quotas` are over the whole library."""

    items: list[LibraryItem]
    next_before: UUID | None
    counts: dict[FileType, int]
    quotas: Quotas


class ProjectImage(msgspec.Struct, frozen=True, rename="camel"):
    """An image of one of the user's sites; `mediaId` and `url` name its library item when it has
    one."""

    id: UUID
    project_id: UUID
    filename: str
    original_name: str | None
    mime_type: str | None
    size_bytes: int | None
    created_at: datetime
    media_id: UUID | None
    url: str | None


class ProjectImages(msgspec.Struct, frozen=True, rename="camel"):
    images: list[ProjectImage]


# Problems ----------------------------------------------------------------------------------------


class MediaNotFound(NotFound):
    """No library item of the caller's has this id (another user's is not told apart)."""

    code = "media_not_found"
    title = "Media not found"

    def __init__(self) -> None:
        super().__init__("There is no file in your library with this id.")


class ProjectNotFound(NotFound):
    """No site of the caller's has this id."""

    code = "project_not_found"
    title = "Site not found"

    def __init__(self) -> None:
        super().__init__("There is no site of yours with this id.")


def quotas(counts: dict[FileType, int]) -> Quotas:
    images, videos = counts.get("image", 0), counts.get("video", 0)
    return Quotas(
        images=Quota(IMAGE_QUOTA, images, max(IMAGE_QUOTA - images, 0)),
        videos=Quota(VIDEO_QUOTA, videos, max(VIDEO_QUOTA - videos, 0)),
    )
