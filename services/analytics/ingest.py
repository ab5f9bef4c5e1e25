"""Page-view ingest: answered at once, written in batches.

`Ingest.accept` decides about a view in memory (bots and prefetches dropped, fields clipped, the
visitor hashed) and appends it to a buffer; the answer (202) never waits for the database. The
flusher writes the buffer with one multi-row insert (`record_page_views`, as the service role)
whenever PAGE_VIEW_BATCH_ROWS views wait, at the latest every PAGE_VIEW_FLUSH_MS, and on shutdown
(the `page_view_ingest` lifespan), as Plausible's write buffer does.

Durability: the buffer is memory. A graceful shutdown (deploys, restarts: SIGTERM lets the server
finish its requests, then the lifespan flushes) loses nothing; a crash of the process (OOM kill,
SIGKILL, power) loses the views accepted since the last flush: at most PAGE_VIEW_FLUSH_MS worth
(1 s by default), or while the database is down, what waits for it (at most
PAGE_VIEW_BUFFER_ROWS). That is acceptable for statistics that count visits, not money: a second
of views is noise in a daily count, and a durable queue (a Redis stream with acknowledgement)
would add a round trip to every view and a second store to run, for numbers nobody reconciles.
While the database is down views wait (up to PAGE_VIEW_BUFFER_ROWS, then new ones are dropped and
counted); a batch the database refuses for its content is dropped, logged and counted.
"""

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import msgspec
import structlog
from litestar import Litestar
from prometheus_client import Counter

from services.analytics.bots import BotFilter
from services.analytics.models.pageviews import PageViewIn
from services.analytics.repo.pageviews import PageViewRepository
from services.analytics.visitors import Visitors
from shared.config import Settings
from shared.errors import DatabaseUnavailable, Problem
from shared.identity import Caller, service_caller

log = structlog.stdlib.get_logger(__name__)

PATH_MAX, REFERRER_MAX, USER_AGENT_MAX = 512, 1024, 512
SHUTDOWN_FLUSH_S = 30.0

VIEWS_ACCEPTED = Counter(
    "sajtmaskin_page_views_accepted", "Page views accepted into the write buffer"
)
VIEWS_WRITTEN = Counter("sajtmaskin_page_views_written", "Page views written to the database")
VIEWS_DROPPED = Counter(
    "sajtmaskin_page_views_dropped",
    "Page views answered 202 but not stored: bot, prefetch, overflow (buffer full) or failed",
    ["reason"],
)


class Sighting(msgspec.Struct, frozen=True):
    """What the request says about the visitor besides its body: the client address (only ever
    hashed), the user agent, and whether the browser only prefetched the page."""

    address: str
    user_agent: str
    prefetch: bool


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ingest:
    """The write buffer of page views and its flusher (`start`, `close`)."""

    def __init__(
        self,
        settings: Settings,
        repository: PageViewRepository,
        visitors: Visitors,
        bots: BotFilter,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.repository = repository
        self.visitors = visitors
        self.bots = bots
        self.clock = clock
        self.batch_rows = max(1, settings.page_view_batch_rows)
        self.flush_s = max(0.001, settings.page_view_flush_ms / 1000)
        self.buffer_rows = max(self.batch_rows, settings.page_view_buffer_rows)
        self._buffer: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Views accepted and not yet written."""
        return len(self._buffer)

    async def accept(self, caller: Caller, view: PageViewIn, sighting: Sighting) -> None:
        """Take a view for the next batch, or drop it (a bot, a prefetch, a full buffer); the
        caller is answered the same either way."""
        if sighting.prefetch:
            VIEWS_DROPPED.labels("prefetch").inc()
            return
        if self.bots.is_bot(sighting.user_agent):
            VIEWS_DROPPED.labels("bot").inc()
            return
        at = self.clock()
        visitor = await self.visitors.visitor_hash(sighting.address, sighting.user_agent, at)
        if len(self._buffer) >= self.buffer_rows:
            VIEWS_DROPPED.labels("overflow").inc()
            return
        self._buffer.append(
            {
                "path": clean_path(view.path),
                "referrer": _clip(view.referrer, REFERRER_MAX),
                "user_agent": _clip(sighting.user_agent, USER_AGENT_MAX),
                "user_id": str(caller.user_id) if caller.user_id else None,
                "session_id": caller.guest_session if caller.user_id is None else None,
                "visitor_hash": visitor,
                "created_at": at.isoformat(),
            }
        )
        VIEWS_ACCEPTED.inc()
        if len(self._buffer) >= self.batch_rows:
            self._wake.set()

    async def flush(self) -> int:
        """Write every view waiting now, a batch (one insert) at a time; how many were written.
        While the database is unavailable the rest wait for the next flush."""
        written = 0
        async with self._flushing:
            while self._buffer:
                batch = self._buffer[: self.batch_rows]
                del self._buffer[: self.batch_rows]
                try:
                    written += await self.repository.record(batch)
                except DatabaseUnavailable:
                    # Back to the front, in order; the newest go if the buffer overflowed.
                    self._buffer[:0] = batch
                    overflow = len(self._buffer) - self.buffer_rows
                    if overflow > 0:
                        del self._buffer[-overflow:]
                        VIEWS_DROPPED.labels("overflow").inc(overflow)
                    log.warning("page_views_waiting", waiting=len(self._buffer))
                    break
                except Problem as error:
                    VIEWS_DROPPED.labels("failed").inc(len(batch))
                    log.error("page_views_refused", views=len(batch), error=str(error))
        VIEWS_WRITTEN.inc(written)
        return written

    def start(self) -> None:
        """Start the flusher."""
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="page-view-flusher")

    async def close(self) -> None:
        """Stop the flusher, then write what was accepted (a batch under way is finished)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_FLUSH_S)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        if self._buffer:
            log.error("page_views_lost_at_shutdown", views=len(self._buffer))
            VIEWS_DROPPED.labels("failed").inc(len(self._buffer))
            self._buffer.clear()

    async def _run(self) -> None:
        while not self._closing:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # never let the flusher die while the app runs
                log.exception("page_view_flush_failed")
        await self.flush()


@asynccontextmanager
async def page_view_ingest(app: Litestar) -> AsyncIterator[None]:
    """A lifespan giving the app `state.ingest` and running its flusher; on shutdown (after the
    server has finished its requests) what was accepted is written."""
    state = app.state
    repository = PageViewRepository(state.data_plane, service_caller(state.settings))
    ingest = Ingest(state.settings, repository, Visitors(repository), BotFilter())
    state.ingest = ingest
    ingest.start()
    try:
        yield
    finally:
        await ingest.close()


def clean_path(path: str) -> str:
    """The path as stored: a full URL reduced to its path, the fragment dropped, the query string
    dropped but for its utm_* parameters (other parameters can carry tokens, e-mail addresses,
    search terms), clipped to 512 characters."""
    parts = urlsplit(_text(path.strip()))
    kept = [
        parameter
        for parameter in parts.query.split("&")
        if parameter.lower().startswith("utm_") and parameter.partition("=")[0][4:]
    ]
    stored = (parts.path or "/") + ("?" + "&".join(kept) if kept else "")
    return stored[:PATH_MAX]


def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    cleaned = _text(value.strip())[:limit]
    return cleaned or None


def _text(value: str) -> str:
    """`value` as Postgres text takes it: no NUL characters, no unpaired surrogates (either would
    fail the whole batch)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
