"""The template cache's queries: reads as the caller (its own entries and the shared ones,
as row-level security allows), writes of a user's own entry as that user, and of the shared
entry as the service role, each live for `TEMPLATE_LIFETIME` from the write."""

from datetime import UTC, datetime
from typing import Any

import msgspec

from services.projects.models.templates import (
    TEMPLATE_LIFETIME,
    CachedTemplate,
    TemplateGeneration,
    TemplateNotCached,
)
from shared.data.query import Insert, Select, asc, eq, gt
from shared.data.repository import Repository
from shared.data.rows import row_as

TEMPLATE_COLUMNS = (
    "template_id",
    "user_id",
    "chat_id",
    "demo_url",
    "version_id",
    "files_json",
    "code",
    "model",
    "created_at",
    "expires_at",
)
# One entry per template and user, and one shared entry (user_id null) per template.
TEMPLATE_KEY = ("template_id", "user_id")


class _TemplateCache(Repository):
    async def _upsert(self, entry: dict[str, Any]) -> CachedTemplate:
        rows = await self.rows(
            Insert("template_cache", (entry,), TEMPLATE_COLUMNS, on_conflict=TEMPLATE_KEY)
        )
        return _cached(rows[0])


class TemplateCacheRepository(_TemplateCache):
    """The template cache as its caller sees it: a user's own entries and the shared ones; a
    guest's or the anon key's, the shared ones only."""

    async def live(self, template_id: str) -> CachedTemplate:
        """The caller's own unexpired entry for the template, else the shared unexpired one;
        `TemplateNotCached` when neither is."""
        rows = await self.rows(
            Select(
                "template_cache",
                TEMPLATE_COLUMNS,
                (eq("template_id", template_id), gt("expires_at", datetime.now(UTC))),
                # The caller sees its own entries and shared ones only: its own sorts first.
                order=(asc("user_id", nulls_first=False),),
                limit=1,
            )
        )
        if not rows:
            raise TemplateNotCached()
        return _cached(rows[0])

    async def cache_own(self, generation: TemplateGeneration) -> CachedTemplate:
        """Cache `generation` as the calling user's own entry (replacing the one it has), live
        for `TEMPLATE_LIFETIME`; users only (guests may not write the cache)."""
        return await self._upsert(_entry(generation, self.caller.user_id))


class SharedTemplateCacheRepository(_TemplateCache):
    """The shared entries of the template cache, run as the service role: only it may write
    what every caller reads (reviewed: the code engine caches a generation for everyone)."""

    async def cache_shared(self, generation: TemplateGeneration) -> CachedTemplate:
        """Cache `generation` as the template's shared entry (replacing the one it has), live
        for `TEMPLATE_LIFETIME`."""
        return await self._upsert(_entry(generation, None))


def _entry(generation: TemplateGeneration, user_id: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        **msgspec.structs.asdict(generation),
        "user_id": user_id,
        "created_at": now,
        "expires_at": now + TEMPLATE_LIFETIME,
    }


def _cached(row: dict[str, Any]) -> CachedTemplate:
    return row_as(CachedTemplate, {**row, "shared": row["user_id"] is None})
