"""A media library item on the wire (camelCase), as an upload answers it and the library lists
it; the row it is read from; and the problems an upload answers with."""

from datetime import datetime
from uuid import UUID

import msgspec

from shared.errors import NotFound, Problem

MEDIA_COLUMNS = (
    "id",
    "user_id",
    "filename",
    "original_name",
    "file_path",
    "mime_type",
    "file_type",
    "size_bytes",
    "description",
    "tags",
    "project_id",
    "created_at",
)
"""The media_library columns a `MediaRow` holds."""

DESCRIPTION_MAX = 2000
TAGS_MAX = 50
TAG_MAX = 100


class MediaRow(msgspec.Struct, frozen=True):
    """A media_library row (MEDIA_COLUMNS)."""

    id: UUID
    user_id: UUID
    filename: str
    original_name: str
    file_path: str
    mime_type: str
    file_type: str
    size_bytes: int
    description: str | None
    tags: list[str]
    project_id: UUID | None
    created_at: datetime


class MediaItem(msgspec.Struct, frozen=True, rename="camel"):
    """A file in the user's media library. `contentUrl` serves its bytes (to its owner)."""

    id: UUID
    content_url: str
    file_type: str
    mime_type: str
    size_bytes: int
    original_name: str
    description: str | None
    tags: list[str]
    project_id: UUID | None
    created_at: datetime

    @classmethod
    def of(cls, row: MediaRow) -> "MediaItem":
        return cls(
            id=row.id,
            content_url=content_url(row.id),
            file_type=row.file_type,
            mime_type=row.mime_type,
            size_bytes=row.size_bytes,
            original_name=row.original_name,
            description=row.description,
            tags=row.tags,
            project_id=row.project_id,
            created_at=row.created_at,
        )


def content_url(media_id: UUID) -> str:
    """Where the item's bytes are served (relative to the API's origin)."""
    return f"/media/{media_id}/content"


# Problems ----------------------------------------------------------------------------------------


class UnsupportedFileType(Problem):
    status = 415
    code = "unsupported_file_type"
    title = "This type of file is not accepted"


class FileTooLarge(Problem):
    status = 413
    code = "file_too_large"
    title = "The file is too large"


class QuotaExceeded(Problem):
    """The user's library holds as many files of this kind as it may: `fileType`, `counts`
    (images, videos) and `quotas` say which and how many."""

    status = 409
    code = "quota_exceeded"
    title = "Media quota reached"


class ProjectNotFound(NotFound):
    code = "project_not_found"
    title = "No such site"
