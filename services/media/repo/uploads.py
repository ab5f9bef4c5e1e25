"""Uploads' queries, as the uploading user (row-level security decides): the site an upload is
for, the library's counts per type, recording an upload, and queueing a stored object whose row
could not be written (as the service role, for the deletion worker)."""

from uuid import UUID

import msgspec

from services.media.models.uploads import MediaRow
from shared.data.query import Insert, Rpc, Select, eq
from shared.data.repository import Repository


class Usage(msgspec.Struct, frozen=True):
    """How many files of a type the user has, and the quota (None = unlimited)."""

    file_type: str
    used: int
    quota: int | None


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


class UploadsRepository(Repository):
    async def sees_site(self, site_id: UUID) -> bool:
        """Whether the caller owns the site (they see only their own)."""
        rows = await self.rows(Select("app_projects", ("id",), (eq("id", site_id),)))
        return bool(rows)

    async def usage(self) -> list[Usage]:
        return [msgspec.convert(row, Usage) for row in await self.rows(Rpc("media_usage"))]

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
