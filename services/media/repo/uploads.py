"""Uploads' queries, as the uploading user (row-level security decides): the library's own
(the site an upload is for, its counts per type) and recording an upload. An object whose row
could not be written is queued through `repo.deletions`."""

from uuid import UUID

import msgspec

from services.media.models.uploads import MediaRow
from services.media.repo.library import LibraryRepository
from shared.data.query import Rpc


class NewMedia(msgspec.Struct, frozen=True):
    """The library row an upload adds (its object already stored at `file_path`)."""

    filename: str
    original_name: str
    file_path: str
    mime_type: str
    file_type: str
    size_bytes: int
    description: str | None
    tags: list[str]
    project_id: UUID | None


class UploadsRepository(LibraryRepository):
    """The library's queries (`site_exists`, `usage`) and recording an upload."""

    async def record(self, media: NewMedia) -> MediaRow:
        """The library row (and the site's image, with a project) in one transaction; raises
        RuleRefused 'quota_exceeded' or 'project_not_found'."""
        args = {f"p_{name}": value for name, value in msgspec.structs.asdict(media).items()}
        return await self.one(Rpc("record_media_upload", args), MediaRow)
