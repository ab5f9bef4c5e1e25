"""The loop every background worker runs (auth's mail sender, media's deletions, billing's
domain fulfilment, projects' deployment worker): a pass, then a pause until the next."""

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from shared.errors import Problem

logger = structlog.stdlib.get_logger(__name__)


async def keep_working(
    what: str,
    one_pass: Callable[[], Awaitable[bool]],
    stop: asyncio.Event,
    poll_s: float,
    wake: asyncio.Event | None = None,
) -> None:
    """Run `one_pass` until `stop` is set. A pass that returns True (a full batch: more is
    waiting) is followed at once by the next; otherwise the loop pauses `poll_s`, or until `wake`
    or `stop` is set. A failing pass is logged — the data plane's problems without a traceback —
    and retried after the pause."""
    while not stop.is_set():
        if wake is not None:
            # Cleared before the pass: a wake during it gets a pass of its own.
            wake.clear()
        try:
            more = await one_pass()
        except Problem as problem:
            logger.warning(f"{what} pass failed", code=problem.code)
            more = False
        except Exception:
            logger.exception(f"{what} pass failed")
            more = False
        if not more:
            await _first_of(stop, wake, poll_s)


async def _first_of(stop: asyncio.Event, wake: asyncio.Event | None, timeout_s: float) -> None:
    events = [stop] if wake is None else [stop, wake]
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
