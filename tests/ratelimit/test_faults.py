"""Redis going away mid-test: each route follows its policy, quickly, and shared decisions
resume when Redis is back — over TCP and over the Upstash REST protocol."""

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import pytest
import redis
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from shared.app import create_service_app
from shared.config import Settings
from shared.kv import Deadline
from tests.fakes.redis_fixtures import UPSTASH_TOKEN
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstash_server import UpstashServer
from tests.ratelimit.conftest import probe_router
from tests.ratelimit.test_routes import DEPLOYS_PER_MINUTE
from tests.world import a_user, bearer

# Above the production default (50 ms): the first decision loads the script, which on a loaded
# machine can outlast 50 ms through the Upstash test server and fall back to the local limiter.
DEADLINE_MS = 250
DEADLINE_S = DEADLINE_MS / 1000
MARGIN_S = 0.5  # the test client, the handler and a loaded CI machine


@contextmanager
def limited_by(transport: str, redis_server: RedisServer, settings: Settings) -> Iterator[Settings]:
    """`settings` whose limiter reaches `redis_server` over `transport`."""
    if transport == "redis":
        yield msgspec.structs.replace(
            settings, redis_url=redis_server.url, rate_limit_timeout_ms=DEADLINE_MS
        )
        return
    with UpstashServer(redis_server.url, UPSTASH_TOKEN) as upstash:
        yield msgspec.structs.replace(
            settings,
            redis_url=None,
            upstash_redis_rest_url=upstash.url,
            upstash_redis_rest_token=UPSTASH_TOKEN,
            rate_limit_timeout_ms=DEADLINE_MS,
        )


def fallbacks(policy: str, mode: str) -> float:
    value = REGISTRY.get_sample_value(
        "sajtmaskin_rate_limit_fallbacks_total", {"policy": policy, "mode": mode}
    )
    return value or 0.0


def decisions(policy: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "sajtmaskin_rate_limit_decisions_total", {"policy": policy, "outcome": outcome}
    )
    return value or 0.0


async def timed_post(
    client: AsyncTestClient[Litestar], path: str, headers: dict[str, str]
) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(path, headers=headers)
    return response.status_code, time.perf_counter() - started


@pytest.mark.parametrize("transport", ["redis", "upstash"])
async def test_policies_hold_while_redis_is_down_and_resume_after(
    transport: str,
    private_redis: RedisServer,
    limited_settings: Settings,
    database_url: str,
) -> None:
    with limited_by(transport, private_redis, limited_settings) as settings:
        app = create_service_app("probe", [probe_router], settings)
        async with AsyncTestClient(app) as client:
            headers = bearer(a_user(database_url))
            assert (await client.post("/probe/deploy", headers=headers)).status_code == 201
            with redis.Redis.from_url(private_redis.url) as inspector:
                assert inspector.keys("*ratelimit:deploy:*")

            private_redis.stop()
            opened_before = fallbacks("page_view", "open")
            failed_open_before = decisions("page_view", "failed_open")
            limited_before = decisions("deploy", "limited")
            views = [await timed_post(client, "/probe/view", headers) for _ in range(3)]
            deploys = [
                await timed_post(client, "/probe/deploy", headers)
                for _ in range(DEPLOYS_PER_MINUTE + 1)
            ]

            # Page views fail open; deploys fall back to this process's limiter, which allows a
            # full burst of its own and then refuses.
            assert [status for status, _ in views] == [201, 201, 201]
            assert [status for status, _ in deploys] == [201] * DEPLOYS_PER_MINUTE + [429]
            assert max(elapsed for _, elapsed in views + deploys) < DEADLINE_S + MARGIN_S
            assert fallbacks("page_view", "open") == opened_before + 3
            assert decisions("page_view", "failed_open") == failed_open_before + 3
            assert decisions("deploy", "limited") == limited_before + 1

            private_redis.start()
            fresh = bearer(a_user(database_url))
            assert (await client.post("/probe/deploy", headers=fresh)).status_code == 201
            with redis.Redis.from_url(private_redis.url) as inspector:
                assert inspector.keys("*ratelimit:deploy:*")


async def test_a_reply_that_waited_behind_our_busy_loop_is_not_a_timeout() -> None:
    # The store answers at once, but this process is busy past the deadline before it reads
    # the reply (at 32 concurrent requests a turn of the loop can outlast 50 ms).
    loop = asyncio.get_running_loop()
    ours, store = socket.socketpair()
    ours.setblocking(False)
    with ours, store:

        def busy_turn() -> None:
            store.send(b"allowed")
            time.sleep(3 * DEADLINE_S)

        async def ask() -> bytes:
            async with Deadline(DEADLINE_S):
                return await loop.sock_recv(ours, 16)

        loop.call_soon(busy_turn)
        assert await ask() == b"allowed"


async def test_a_store_that_does_not_answer_times_out_at_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    ours, store = socket.socketpair()
    ours.setblocking(False)
    with ours, store:
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            async with Deadline(DEADLINE_S):
                await loop.sock_recv(ours, 16)

    assert DEADLINE_S <= time.perf_counter() - started < DEADLINE_S + MARGIN_S
