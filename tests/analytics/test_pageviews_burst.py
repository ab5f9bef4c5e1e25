"""Page views under load, on both data planes, served for real concurrency (tests.serving): a
burst of 10,000 views from 50 clients at once is stored exactly once per non-bot view after the
flush, and a shutdown in the middle of a burst writes every view it had accepted."""

import asyncio
import itertools

import httpx
import msgspec

from services.analytics.app import create_app
from shared.config import Settings
from tests.analytics.conftest import BROWSER, Db, stored
from tests.serving import serving

CLIENTS = 50
BURST = 10_000
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def burst_settings(settings: Settings, **overrides: object) -> Settings:
    # One address sends everything here: the limit is not what these tests are about.
    return msgspec.structs.replace(settings, rate_limits=("page_view=1000000/60",), **overrides)


def agent_of(view: int) -> str:
    """Every tenth view is a crawler's."""
    return GOOGLEBOT if view % 10 == 0 else BROWSER


async def test_a_burst_from_50_clients_is_stored_exactly_once_per_human_view(
    analytics_settings: Settings, db: Db, run: str
) -> None:
    views = iter(range(BURST))
    answers: list[int] = []

    async def client(http: httpx.AsyncClient) -> None:
        for view in views:  # the clients share one iterator: each view is sent once
            answer = await http.post(
                "/analytics/pageview",
                json={"path": f"{run}/{view}", "referrer": "https://example.com/"},
                headers={"User-Agent": agent_of(view)},
            )
            answers.append(answer.status_code)

    app = create_app(burst_settings(analytics_settings, page_view_batch_rows=500))
    async with serving(app) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    # Leaving `serving` shut the app down, which flushed the rest.

    assert answers == [202] * BURST
    paths = [row["path"] for row in stored(db, run)]
    humans = {f"{run}/{view}" for view in range(BURST) if agent_of(view) == BROWSER}
    assert len(paths) == len(humans)  # none doubled
    assert set(paths) == humans  # none lost, no bot's


async def test_a_shutdown_mid_burst_writes_every_view_it_accepted(
    analytics_settings: Settings, db: Db, run: str
) -> None:
    # Nothing is flushed by size or time during this test: only the shutdown writes.
    app = create_app(
        burst_settings(analytics_settings, page_view_batch_rows=100_000, page_view_flush_ms=600_000)
    )
    counter = itertools.count()
    accepted: set[str] = set()
    stopping = asyncio.Event()
    enough = asyncio.Event()

    async def client(http: httpx.AsyncClient) -> None:
        while not stopping.is_set():
            path = f"{run}/{next(counter)}"
            answer = await http.post(
                "/analytics/pageview", json={"path": path}, headers={"User-Agent": BROWSER}
            )
            assert answer.status_code == 202
            accepted.add(path)
            if len(accepted) >= 2000:
                enough.set()

    async with serving(app) as http:
        clients = [asyncio.create_task(client(http)) for _ in range(CLIENTS)]
        await enough.wait()
        assert stored(db, run) == []  # nothing written yet: all of it is in the buffer
        # A server shutting down stops taking requests and finishes those under way (uvicorn on
        # SIGTERM), then runs the lifespan's shutdown, which is what leaving `serving` does.
        stopping.set()
        await asyncio.gather(*clients)

    paths = [row["path"] for row in stored(db, run)]
    assert len(paths) == len(set(paths))  # none doubled
    assert set(paths) == accepted  # every accepted view written, nothing else
