"""The projects service's queries, in the shared repository vocabulary."""

from typing import Any

from services.projects.models import AppProject
from shared.data.plane import DataPlane
from shared.data.query import Select, desc, in_
from shared.data.rows import row_as
from shared.identity import Caller

APP_PROJECT_COLUMNS = (
    "id",
    "name",
    "category",
    "description",
    "thumbnail_path",
    "created_at",
    "updated_at",
)


class ProjectRepository:
    """Projects as one caller sees them: row-level security scopes every query to its owner."""

    def __init__(self, data: DataPlane, caller: Caller) -> None:
        self.data = data
        self.caller = caller

    async def list_app_projects(self, limit: int) -> list[AppProject]:
        """The caller's app projects, newest first, each with its saved demo URL."""
        sites = await self.data.run(
            self.caller,
            Select("app_projects", APP_PROJECT_COLUMNS, order=(desc("created_at"),), limit=limit),
        )
        demo_urls = await self._demo_urls([row["id"] for row in sites.rows])
        return [
            row_as(AppProject, {**row, "demo_url": demo_urls.get(row["id"])}) for row in sites.rows
        ]

    async def _demo_urls(self, project_ids: list[Any]) -> dict[Any, str | None]:
        if not project_ids:
            return {}
        saved = await self.data.run(
            self.caller,
            Select(
                "project_data",
                ("project_id", "demo_url"),
                filters=(in_("project_id", project_ids),),
            ),
        )
        return {row["project_id"]: row["demo_url"] for row in saved.rows}
