"""Uploads' queries, as the uploading user (row-level security decides): the library's own
(the site an upload is for, its counts per type), recording an upload, and queueing a stored
object whose row could not be written (as the service role, for the deletion worker)."""

from uuid import UUID

import msgspec

from services.media.models.uploads import MediaRow
from services.media.repo.library import LibraryRepository
from shared.data.query import Insert, Rpc
from shared.data.repository import Repository


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


class OrphansRepository(Repository):
    """As the service role: the deletion outbox, for an object no row points at."""

    async def queue_deletion(self, file_path: str) -> None:
        await self.run(
            Insert(
                "storage_deletions",
                ({"kind": "media", "file_path": file_path},),
                returning=False,
            )
        )
