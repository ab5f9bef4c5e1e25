"""The cleanup job (`sajtmaskin cleanup [--dry-run]`), as the service role, on either data plane.

Four kinds of rows are removed, each defined once in SQL (the views `private.cleanup_<kind>`,
migration `20261204000400_projects_audit_limit_and_cleanup.sql`):

- `idle_guest_sites`: guest sites whose site and saved data are both unchanged for 7 days;
- `unsaved_sites`: sites of anyone with no saved data, created more than 24 hours ago;
- `expired_templates`: template cache entries past `expires_at`;
- `consumed_handoffs`: prompt handoffs consumed more than 30 days ago.

Each kind is deleted a batch at a time by `cleanup_batch`, one transaction per batch, skipping
rows another run holds: two runs at once share the work, neither waits nor fails. Sites go as a
user's delete takes them, with everything hanging off them. A dry run counts what is due
(`cleanup_due`) and deletes nothing. Schedule it with cron or Supabase's `pg_cron`.
"""

from typing import Literal

import msgspec

from shared.config import Settings
from shared.data.plane import job_clients
from shared.data.query import Rpc
from shared.data.repository import Repository
from shared.identity import service_caller

CleanupKind = Literal["idle_guest_sites", "unsaved_sites", "expired_templates", "consumed_handoffs"]

KINDS: tuple[CleanupKind, ...] = (
    "idle_guest_sites",
    "unsaved_sites",
    "expired_templates",
    "consumed_handoffs",
)
"""In the order the job works through them."""

DESCRIPTIONS: dict[CleanupKind, str] = {
    "idle_guest_sites": "guest sites idle for 7 days",
    "unsaved_sites": "sites never saved after 24 hours",
    "expired_templates": "expired template cache entries",
    "consumed_handoffs": "prompt handoffs consumed over 30 days ago",
}

BATCH_SIZE = 500
"""Rows deleted per transaction."""


class Cleaned(msgspec.Struct, frozen=True):
    """How many rows of one kind a run removed (a dry run: how many are due)."""

    kind: CleanupKind
    count: int

    def described(self, dry_run: bool) -> str:
        """One line of the job's report."""
        verb = "due (dry run, nothing removed)" if dry_run else "removed"
        return f"{self.kind}: {self.count} {verb} - {DESCRIPTIONS[self.kind]}"


class CleanupRepository(Repository):
    """What is due and one batch of deleting it, run as the service role (the job has no
    user)."""

    async def due(self) -> list[Cleaned]:
        rows = await self.rows(Rpc("cleanup_due"))
        return [Cleaned(row["kind"], row["due"]) for row in rows]

    async def delete_batch(self, kind: CleanupKind, batch_size: int) -> int:
        """Delete up to `batch_size` due rows of `kind` that no one else holds; how many."""
        rows = await self.rows(Rpc("cleanup_batch", {"p_kind": kind, "p_batch_size": batch_size}))
        return int(rows[0]["cleanup_batch"])


async def clean_up(
    settings: Settings, *, dry_run: bool = False, batch_size: int = BATCH_SIZE
) -> list[Cleaned]:
    """Remove what is due on the database `settings` configure (a dry run: count it), per kind
    in `KINDS` order. Raises `ValueError` without the service role's key on the postgrest plane,
    a `Problem` when the database cannot answer."""
    caller = service_caller(settings)
    async with job_clients(settings) as (plane, _):
        repository = CleanupRepository(plane, caller)
        if dry_run:
            return await repository.due()
        return [Cleaned(kind, await _delete_all(repository, kind, batch_size)) for kind in KINDS]


async def _delete_all(repository: CleanupRepository, kind: CleanupKind, batch_size: int) -> int:
    removed = 0
    while True:
        batch = await repository.delete_batch(kind, batch_size)
        removed += batch
        # A short batch: nothing more is due that another run is not already deleting.
        if batch < batch_size:
            return removed
