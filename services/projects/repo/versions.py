"""The queries of a site's versions, as the caller: row-level security scopes them to the sites,
chats and versions it owns, and SQL keeps them to the versions the site's generations made."""

from uuid import UUID

from services.projects.models.versions import SiteVersion
from shared.data.query import Rpc, Select, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

VERSIONS_LISTED = 100
"""The most versions a site's list shows."""


class VersionRepository(Repository):
    async def of_site(self, site_id: UUID) -> list[SiteVersion] | None:
        """The site's versions, pinned first (newest pin first), then newest; None when the
        site is not the caller's."""
        rows = await self.rows(
            Rpc(
                "app_project_versions",
                {"p_app_project_id": site_id, "p_limit": VERSIONS_LISTED},
            )
        )
        # Versions are seen only through the caller's own site, so only an empty list needs
        # asking whether the site is the caller's at all: one query per list in the common case.
        if not rows and not await self.rows(Select("app_projects", ("id",), (eq("id", site_id),))):
            return None
        return [row_as(SiteVersion, row) for row in rows]

    async def pin(self, site_id: UUID, version_id: UUID, pinned: bool) -> SiteVersion | None:
        """The version after pinning (pinned_at now) or unpinning it; None when it is not one
        of the caller's site's versions."""
        rows = await self.rows(
            Rpc(
                "pin_app_project_version",
                {"p_app_project_id": site_id, "p_version_id": version_id, "p_pinned": pinned},
            )
        )
        return row_as(SiteVersion, rows[0]) if rows else None
