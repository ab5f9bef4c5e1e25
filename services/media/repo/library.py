"""The media library as its user sees it: row-level security scopes every query to the caller's
own items and sites. Deleting an item queues its stored object in the same statement (the
`media_library_queue_storage_deletions` trigger)."""

from typing import Any
from uuid import UUID

from services.media.models.library import FileType, ProjectImage, Usage
from services.media.models.uploads import MEDIA_COLUMNS, MediaRow
from shared.data.query import Delete, Rpc, Select, Update, desc, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

IMAGE_COLUMNS = (
    "id",
    "project_id",
    "filename",
    "file_path",
    "original_name",
    "mime_type",
    "size_bytes",
    "created_at",
    "media_id",
)


class LibraryRepository(Repository):
    """The caller's library items and their sites' images."""

    async def page(
        self, file_type: FileType | None, before: UUID | None, limit: int
    ) -> list[MediaRow]:
        """Up to `limit` items (of `file_type`), newest first, older than the item `before`."""
        rows = await self.rows(
            Rpc(
                "media_library_page",
                {"p_file_type": file_type, "p_before": before, "p_limit": limit},
            )
        )
        return [row_as(MediaRow, row) for row in rows]

    async def usage(self) -> list[Usage]:
        """The caller's files of each type with that type's quota (`media_usage()`)."""
        return [row_as(Usage, row) for row in await self.rows(Rpc("media_usage"))]

    async def item(self, item_id: UUID) -> MediaRow | None:
        """The item, if it is the caller's."""
        return await self.one_or_none(
            Select("media_library", MEDIA_COLUMNS, (eq("id", item_id),)), MediaRow
        )

    async def change(self, item_id: UUID, values: dict[str, Any]) -> MediaRow | None:
        """Change the item's description and tags; the changed item, if it is the caller's."""
        rows = await self.rows(
            Update("media_library", values, (eq("id", item_id),), columns=MEDIA_COLUMNS)
        )
        return row_as(MediaRow, rows[0]) if rows else None

    async def delete(self, item_id: UUID) -> bool:
        """Delete the item (its object is queued for the deletion worker, and the same upload's
        site images go with it); whether the caller had one."""
        rows = await self.rows(Delete("media_library", (eq("id", item_id),), columns=("id",)))
        return bool(rows)

    async def site_exists(self, project_id: UUID) -> bool:
        """Whether the site is the caller's."""
        rows = await self.rows(Select("app_projects", ("id",), (eq("id", project_id),)))
        return bool(rows)

    async def images(self, project_id: UUID) -> list[ProjectImage]:
        """The site's images, newest first, each with its library item's id when it has one."""
        rows = await self.rows(
            Select(
                "site_images",
                IMAGE_COLUMNS,
                (eq("project_id", project_id),),
                order=(desc("created_at"), desc("id")),
            )
        )
        images = [row_as(ProjectImage, row) for row in rows]
        return [image.of_item(image.media_id) for image in images]
