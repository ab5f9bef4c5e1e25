"""The projects service's queries, in the shared repository vocabulary."""

from typing import Any

from services.projects.models.sites import AppProject
from shared.data.query import Select, desc, in_
from shared.data.repository import Repository
from shared.data.rows import row_as

APP_PROJECT_COLUMNS = (
    "id",
    "name",
    "category",
    "description",
    "thumbnail_path",
    "created_at",
    "updated_at",
)


class ProjectRepository(Repository):
    """Projects as one caller sees them: row-level security scopes every query to its owner."""

    async def list_app_projects(self, limit: int) -> list[AppProject]:
        """The caller's app projects, newest first, each with its saved demo URL."""
        sites = await self.rows(
            Select("app_projects", APP_PROJECT_COLUMNS, order=(desc("created_at"),), limit=limit)
        )
        demo_urls = await self._demo_urls([row["id"] for row in sites])
        return [row_as(AppProject, {**row, "demo_url": demo_urls.get(row["id"])}) for row in sites]

    async def _demo_urls(self, project_ids: list[Any]) -> dict[Any, str | None]:
        if not project_ids:
            return {}
        saved = await self.rows(
            Select("project_data", ("project_id", "demo_url"), (in_("project_id", project_ids),))
        )
        return {row["project_id"]: row["demo_url"] for row in saved}
