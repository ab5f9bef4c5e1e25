"""Stored objects whose rows are gone are removed here, and objects and rows that lost each
other are found.

The deletion worker drains `storage_deletions`, the outbox SQL fills in the same transaction as
a library item's or a site image's delete (also through a site's or a user's cascade). It runs in
every replica (`deletion_worker`, a lifespan): each pass leases a batch with
`lease_storage_deletions` (skip locked, as the service role), so workers never share a row, and a
crashed worker's lease runs out and its rows come back. Objects are removed from storage as the
service role; then their rows go. A pass that cannot reach storage leaves its rows leased for a
backoff (MEDIA_DELETION_RETRY_S doubled per attempt, at most an hour), so a storage outage is
retried until it is over, and nothing is lost.

`reap` (the `sajtmaskin media reap` command) compares storage with the rows as the service role:
objects no row, queued deletion or fresh upload accounts for, and rows whose object is gone;
with `fix`, it deletes those objects and removes those rows (their delete queues the missing
object, which the worker finds already gone).
"""

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from litestar import Litestar

from services.media.library import Library
from services.media.repo.deletions import DeletionsRepository, QueuedDeletion
from services.media.storage import Storage, open_storage
from shared.config import Settings
from shared.data.plane import DataPlane, job_clients
from shared.data.query import Delete, Select, asc, gt, in_
from shared.errors import Problem
from shared.identity import Caller, service_caller
from shared.workers import keep_working

BATCH_SIZE = 100
LEASE_S = 300
"""How long a leased batch is hidden from other workers while this one removes it."""
MAX_BACKOFF_S = 3600.0
PAGE = 1000
RECENT_UPLOAD_S = 3600
"""Objects named as uploaded within this many seconds are never called orphans: their upload may
still be recording its row."""

logger = structlog.stdlib.get_logger(__name__)


class DeletionWorker:
    """Removes queued objects from storage; one per process, sharing only the database."""

    def __init__(self, settings: Settings, data: DataPlane, storage: Storage) -> None:
        self._deletions = DeletionsRepository(data, service_caller(settings))
        self._storage = storage
        self._poll_s = settings.media_deletion_poll_s
        self._retry_s = settings.media_deletion_retry_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Start the next pass now (a delete was just queued) rather than after the poll."""
        self._wake.set()

    async def drain_once(self, limit: int = BATCH_SIZE) -> int:
        """Lease up to `limit` due deletions and remove their objects; how many were removed.
        Raises `StorageUnavailable` (the batch then waits out its backoff) or the data plane's
        problems."""
        batch = await self._deletions.lease(limit, LEASE_S)
        if not batch:
            return 0
        ids = [row.id for row in batch]
        try:
            await self._storage.delete(sorted({row.file_path for row in batch}), None)
        except Exception:
            await self._postpone(batch)
            raise
        await self._deletions.remove(ids)
        return len(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set: a full batch is followed at once by the next, otherwise
        the worker sleeps a poll interval or until woken; a failing pass is retried after it."""

        async def one_pass() -> bool:
            return await self.drain_once() == BATCH_SIZE

        await keep_working("storage deletion", one_pass, stop, self._poll_s, self._wake)

    async def _postpone(self, batch: list[QueuedDeletion]) -> None:
        """Hold the batch back for its backoff: the base delay doubled per attempt it has had."""
        attempts = max(row.attempts for row in batch)
        delay = min(self._retry_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)
        logger.warning(
            "storage deletions postponed; storage is unavailable",
            count=len(batch),
            attempts=attempts,
            retry_in_s=delay,
        )
        with suppress(Problem):
            await self._deletions.postpone(
                [row.id for row in batch], datetime.now(UTC) + timedelta(seconds=delay)
            )


@asynccontextmanager
async def deletion_worker(app: Litestar) -> AsyncIterator[None]:
    """A lifespan that removes queued objects in the background while the app runs, and builds
    `state.library` (whose deletes wake it). It comes after the lifespan that opens
    `state.storage`. On shutdown a pass under way finishes."""
    state = app.state
    worker = DeletionWorker(state.settings, state.data_plane, state.storage)
    state.deletions = worker
    state.library = Library(state.data_plane, state.storage, worker.wake)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="media-deletions")
    try:
        yield
    finally:
        stop.set()
        await task


# Reaping -----------------------------------------------------------------------------------------


RowTable = Literal["media_library", "images"]


@dataclass(frozen=True)
class StoredRow:
    table: RowTable
    id: str
    file_path: str


@dataclass
class ReapReport:
    """What `reap` found, and with `fix` what it did."""

    objects: int = 0
    rows: int = 0
    orphan_objects: list[str] = field(default_factory=list)
    """Objects no row or queued deletion points at (and not uploaded just now)."""
    missing_objects: list[StoredRow] = field(default_factory=list)
    """Rows whose object is gone."""
    queued: int = 0
    recent: int = 0
    fixed: bool = False

    @property
    def clean(self) -> bool:
        return not self.orphan_objects and not self.missing_objects

    def lines(self) -> list[str]:
        """The report as the command prints it: one line per finding, then a summary."""
        lines = [
            f"orphan object {path}: no row points at it"
            + (" - deleted from storage" if self.fixed else "")
            for path in self.orphan_objects
        ]
        lines += [
            f"missing object {row.file_path}: {row.table} row {row.id} points at it"
            + (" - row removed" if self.fixed else "")
            for row in self.missing_objects
        ]
        lines.append(
            f"{self.objects} objects, {self.rows} rows, {self.queued} queued for deletion,"
            f" {self.recent} uploaded in the last hour (skipped):"
            f" {len(self.orphan_objects)} orphan objects,"
            f" {len(self.missing_objects)} rows without an object"
            + (" (fixed)" if self.fixed and not self.clean else "")
        )
        return lines


async def reap(settings: Settings, *, fix: bool = False) -> ReapReport:
    """Compare storage with media's rows as the service role, with clients of its own; with
    `fix`, delete the orphan objects and remove the rows whose object is gone."""
    async with job_clients(settings) as (plane, http):
        return await reap_with(settings, plane, open_storage(settings, http), fix=fix)


async def reap_with(
    settings: Settings, data: DataPlane, storage: Storage, *, fix: bool = False
) -> ReapReport:
    """`reap` on given clients."""
    service = service_caller(settings)
    objects = set(await storage.list_paths(""))
    rows = [
        *await _all_rows(data, service, "media_library"),
        *await _all_rows(data, service, "images"),
    ]
    queued = {row["file_path"] for row in await _all(data, service, "storage_deletions")}
    pointed_at = {row.file_path for row in rows}
    now = time.time()
    report = ReapReport(objects=len(objects), rows=len(rows), queued=len(queued))
    for path in sorted(objects - pointed_at - queued):
        if _uploaded_within(path, now, RECENT_UPLOAD_S):
            report.recent += 1
        else:
            report.orphan_objects.append(path)
    report.missing_objects = [row for row in rows if row.file_path not in objects]
    if fix and not report.clean:
        if report.orphan_objects:
            await storage.delete(report.orphan_objects, None)
        for table in ("media_library", "images"):
            ids = [row.id for row in report.missing_objects if row.table == table]
            for start in range(0, len(ids), PAGE):
                await data.run(
                    service,
                    Delete(table, (in_("id", ids[start : start + PAGE]),), returning=False),
                )
        report.fixed = True
    return report


async def _all_rows(data: DataPlane, service: Caller, table: RowTable) -> list[StoredRow]:
    return [
        StoredRow(table, str(row["id"]), row["file_path"])
        for row in await _all(data, service, table)
    ]


async def _all(data: DataPlane, service: Caller, table: str) -> list[dict[str, Any]]:
    """Every row's id and file_path, in pages by id."""
    found: list[dict[str, Any]] = []
    last: str | None = None
    while True:
        filters = (gt("id", last),) if last is not None else ()
        page = (
            await data.run(
                service,
                Select(table, ("id", "file_path"), filters, order=(asc("id"),), limit=PAGE),
            )
        ).rows
        found += page
        if len(page) < PAGE:
            return found
        last = str(page[-1]["id"])


# An upload's object is named `{user}/{category}/{timestamp}_{random}{ext}`.
UPLOAD_TIMESTAMP = re.compile(r"(?:^|/)(\d{10,17})_[^/]*$")


def _uploaded_within(path: str, now: float, seconds: float) -> bool:
    """Whether the object's name says it was uploaded in the last `seconds` (a timestamp in
    seconds, milliseconds or microseconds)."""
    match = UPLOAD_TIMESTAMP.search(path)
    if match is None:
        return False
    stamp = int(match.group(1))
    while stamp > now * 10:  # milliseconds or microseconds
        stamp //= 1000
    return now - seconds <= stamp <= now + seconds
