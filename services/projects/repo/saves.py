"""The queries of a site's saved work, as the caller: row-level security scopes every one to the
sites it owns."""

from typing import Any
from uuid import UUID

from services.projects.models.saves import FileEntry, SavedData
from shared.data.query import Rpc, Select, asc, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

DATA_COLUMNS = (
    "chat_id",
    "demo_url",
    "current_code",
    "files",
    "messages",
    "meta",
    "updated_at",
)


class SaveRepository(Repository):
    """Saves as one caller sees them."""

    async def saved(self, site_id: UUID) -> SavedData | None:
        """The site's latest save; None when it has none (or is not the caller's)."""
        return await self.one_or_none(
            Select("project_data", DATA_COLUMNS, (eq("project_id", site_id),)), SavedData
        )

    async def save(self, site_id: UUID, changes: dict[str, Any]) -> SavedData | None:
        """Write the given columns of the site's save (meta merged, the file list replaced when
        `files` is given), all or nothing; the save after, None when the site is not the
        caller's."""
        rows = await self.rows(
            Rpc("save_project_data", {"p_project_id": site_id, "p_changes": changes})
        )
        return row_as(SavedData, rows[0]) if rows else None

    async def files(self, site_id: UUID) -> list[FileEntry]:
        """The site's saved files, by path (none for a site that is not the caller's)."""
        rows = await self.rows(
            Select(
                "project_files",
                ("path", "size_bytes"),
                (eq("project_id", site_id),),
                order=(asc("path"),),
            )
        )
        return [row_as(FileEntry, row) for row in rows]
