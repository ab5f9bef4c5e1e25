"""Prompt handoffs' queries, as the caller: row-level security makes every handoff its owner's,
and an attached site must be the owner's too."""

from uuid import UUID

from services.projects.models.handoffs import (
    ConsumedHandoff,
    HandoffCreate,
    HandoffCreated,
    HandoffNotFound,
)
from services.projects.models.sites import SiteNotFound
from shared.data.query import Insert, Rpc
from shared.data.repository import Repository
from shared.data.rows import row_as
from shared.errors import Forbidden


class HandoffRepository(Repository):
    """The caller's prompt handoffs (a user's or a guest's; the owner columns default to it)."""

    async def create(self, handoff: HandoffCreate) -> HandoffCreated:
        """A new handoff owned by the caller; `SiteNotFound` when `project_id` names no site
        of the caller's (the insert policy refuses it)."""
        row = {"prompt": handoff.prompt, "source": handoff.source, "project_id": handoff.project_id}
        try:
            rows = await self.rows(Insert("prompt_handoffs", (row,), ("id",)))
        except Forbidden:
            raise SiteNotFound() from None
        return row_as(HandoffCreated, rows[0])

    async def consume(self, handoff_id: UUID) -> ConsumedHandoff:
        """The handoff's prompt, marked consumed by the first call only (in SQL, in one
        statement); `HandoffNotFound` when the caller has no such handoff."""
        rows = await self.rows(Rpc("consume_prompt_handoff", {"p_id": handoff_id}))
        if not rows:
            raise HandoffNotFound()
        return row_as(ConsumedHandoff, rows[0])
