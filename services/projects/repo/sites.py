"""The queries of sites, as the caller: row-level security scopes every one to its owner."""

from typing import Any
from uuid import UUID

import msgspec

from services.projects.models.sites import AppProject, PageKey, Site
from shared.data.query import Delete, Insert, Rpc, Select, Update, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

SITE_COLUMNS = (
    "id",
    "name",
    "category",
    "description",
    "thumbnail_path",
    "created_at",
    "updated_at",
)
OWNED_SITE_COLUMNS = (*SITE_COLUMNS, "user_id", "session_id")


class OwnedSite(msgspec.Struct, frozen=True):
    """A site and whose it is (as cached: a cached site is only served to its owner)."""

    site: Site
    user_id: UUID | None
    session_id: str | None


class SitesPage(msgspec.Struct, frozen=True):
    """Sites, newest first, and whether older ones follow."""

    sites: list[AppProject]
    more: bool


class ProjectRepository(Repository):
    """Sites as one caller sees them."""

    async def page(self, limit: int, before: PageKey | None = None) -> SitesPage:
        """The caller's sites, newest first, `limit` at most, older than `before`, each with
        the demo URL of its save."""
        args: dict[str, Any] = {"p_limit": limit + 1}
        if before is not None:
            args |= {"p_before_created_at": before.created_at, "p_before_id": before.id}
        rows = await self.rows_as(Rpc("app_projects_page", args), AppProject)
        return SitesPage(rows[:limit], len(rows) > limit)

    async def site(self, site_id: UUID) -> OwnedSite | None:
        """One of the caller's sites; None for anyone else's."""
        rows = await self.rows(Select("app_projects", OWNED_SITE_COLUMNS, (eq("id", site_id),)))
        return _owned(rows[0]) if rows else None

    async def create(self, name: str, category: str | None, description: str | None) -> OwnedSite:
        """A new site of the caller's (its owner columns default to the caller in SQL, which
        also refuses it beyond the owner's limit: `RuleRefused('project_limit_reached')`)."""
        row = {"name": name, "category": category, "description": description}
        [created] = await self.rows(Insert("app_projects", (row,), OWNED_SITE_COLUMNS))
        return _owned(created)

    async def change(self, site_id: UUID, values: dict[str, Any]) -> OwnedSite | None:
        """The site after writing `values` (app_projects' columns); None when it is not the
        caller's."""
        rows = await self.rows(
            Update("app_projects", values, (eq("id", site_id),), OWNED_SITE_COLUMNS)
        )
        return _owned(rows[0]) if rows else None

    async def delete(self, site_id: UUID) -> OwnedSite | None:
        """Delete the site and all that hangs off it (in SQL); the site as it was, None when
        it is not the caller's."""
        rows = await self.rows(Delete("app_projects", (eq("id", site_id),), OWNED_SITE_COLUMNS))
        return _owned(rows[0]) if rows else None


def _owned(row: dict[str, Any]) -> OwnedSite:
    return OwnedSite(row_as(Site, row), _uuid_or_none(row["user_id"]), row["session_id"])


def _uuid_or_none(value: str | UUID | None) -> UUID | None:
    return value if value is None or isinstance(value, UUID) else UUID(value)
