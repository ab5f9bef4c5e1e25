"""Company profiles' queries, as the caller: row-level security lets a caller read and write the
profiles of its own sites only, so a profile of another tenant's site is never found and one
can never be written to another tenant's site."""

from typing import Any
from uuid import UUID

import msgspec

from services.projects.models.profiles import (
    CompanyProfile,
    CompanyProfileList,
    CompanyProfileUpdate,
    ProfileNotFound,
)
from services.projects.models.sites import SiteNotFound
from shared.data.query import Insert, Select, desc, eq, plain
from shared.data.repository import Repository
from shared.data.rows import row_as
from shared.errors import Forbidden

BRIEF_COLUMNS = (
    "company_name",
    "industry",
    "location",
    "existing_website",
    "site_likes",
    "site_dislikes",
    "site_feedback",
    "target_audience",
    "purposes",
    "special_wishes",
    "palette",
    "competitor_insights",
    "inspiration_sites",
    "voice_transcript",
)
"""What a profile says, as a copy carries it to another site."""

PROFILE_COLUMNS = ("id", "project_id", *BRIEF_COLUMNS, "created_at", "updated_at")


class CompanyProfileRepository(Repository):
    """The profiles of the caller's sites, one per site."""

    async def save(self, project_id: UUID, profile: CompanyProfileUpdate) -> CompanyProfile:
        """Store `profile` as the site's whole brief (created, or replacing the one it has);
        `SiteNotFound` when the site is not the caller's."""
        return await self._upsert(project_id, plain(msgspec.structs.asdict(profile)))

    async def of_site(self, project_id: UUID) -> CompanyProfile:
        """The site's profile; `ProfileNotFound` when it has none or is not the caller's."""
        found = await self.one_or_none(
            Select("company_profiles", PROFILE_COLUMNS, (eq("project_id", project_id),)),
            CompanyProfile,
        )
        if found is None:
            raise ProfileNotFound()
        return found

    async def list_own(self, limit: int) -> CompanyProfileList:
        """The profiles of the caller's sites, newest first."""
        rows = await self.rows(
            Select(
                "company_profiles",
                PROFILE_COLUMNS,
                order=(desc("created_at"), desc("id")),
                limit=limit,
            )
        )
        return CompanyProfileList([row_as(CompanyProfile, row) for row in rows])

    async def copy_to(self, profile_id: UUID, project_id: UUID) -> CompanyProfile:
        """A copy of the caller's profile `profile_id` as the brief of its site `project_id`
        (replacing the one that site has); `ProfileNotFound` when the profile is not the
        caller's, `SiteNotFound` when the site is not."""
        source = await self.rows(Select("company_profiles", BRIEF_COLUMNS, (eq("id", profile_id),)))
        if not source:
            raise ProfileNotFound()
        return await self._upsert(project_id, source[0])

    async def _upsert(self, project_id: UUID, brief: dict[str, Any]) -> CompanyProfile:
        row = {**brief, "project_id": project_id}
        try:
            rows = await self.rows(
                Insert("company_profiles", (row,), PROFILE_COLUMNS, on_conflict=("project_id",))
            )
        except Forbidden:
            # The insert (or update) policy refused: the site is not one of the caller's.
            raise SiteNotFound() from None
        return row_as(CompanyProfile, rows[0])
