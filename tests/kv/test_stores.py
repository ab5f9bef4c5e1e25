"""Both transports behave the same, and a dead or hung store fails fast with StoreUnavailable."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
import redis.asyncio as redis_asyncio

from shared.config import Settings
from shared.kv import KeyValueStore, Script, StoreUnavailable, open_stores
from shared.local_stack import free_port
from tests.fakes.redis_fixtures import (
    REDIS_URL,
    TRANSPORTS,
    UPSTASH_TOKEN,
    open_store,
    tcp_store,
    upstash_store,
)
from tests.fakes.redis_server import RedisServer, SilentServer
from tests.fakes.upstash_server import UpstashServer

TIMEOUT_S = 0.05
# Scheduling slack on a loaded two-core machine; a store that waited for Redis would take seconds.
MARGIN_S = 0.25


@dataclass
class ObservedStore:
    store: KeyValueStore
    last_command: Callable[[str], Awaitable[str]]
    """The last command about `key` that reached Redis through this store, e.g. "evalsha"."""


@pytest.fixture(params=TRANSPORTS)
async def observed(
    request: pytest.FixtureRequest,
    upstash_server: UpstashServer,
    redis_inspector: redis_asyncio.Redis,
) -> AsyncIterator[ObservedStore]:
    """A store on the real Redis, on each transport, and a view of what it sent there."""
    if request.param == "upstash":

        async def sent_over_http(key: str) -> str:
            return next(
                str(cmd[0]).lower() for cmd in reversed(upstash_server.commands) if key in cmd
            )

        async with upstash_store(upstash_server.url, timeout_s=1.0) as upstash:
            yield ObservedStore(upstash, sent_over_http)
        return

    # Redis records each connection's last command under the client name the URL gives it.
    name = f"kv-test-{uuid.uuid4().hex[:12]}"

    async def sent_over_tcp(key: str) -> str:
        clients = await redis_inspector.client_list()
        return next(str(client["cmd"]) for client in clients if client["name"] == name)

    separator = "&" if "?" in REDIS_URL else "?"
    async with tcp_store(f"{REDIS_URL}{separator}client_name={name}", timeout_s=1.0) as store:
        yield ObservedStore(store, sent_over_tcp)


async def test_a_value_set_with_a_ttl_is_read_back_and_carries_that_ttl(
    observed: ObservedStore, redis_inspector: redis_asyncio.Redis, key_prefix: str
) -> None:
    key = f"{key_prefix}value"

    await observed.store.set(key, "hej då", ttl_s=60)

    assert (await observed.store.get(key), await redis_inspector.ttl(key)) == ("hej då", 60)


async def test_a_missing_key_reads_as_none(observed: ObservedStore, key_prefix: str) -> None:
    assert await observed.store.get(f"{key_prefix}never-set") is None


async def test_deleted_keys_read_as_none(observed: ObservedStore, key_prefix: str) -> None:
    keys = [f"{key_prefix}a", f"{key_prefix}b"]
    for key in keys:
        await observed.store.set(key, "v", ttl_s=60)

    await observed.store.delete(keys)
    await observed.store.delete([])

    assert [await observed.store.get(key) for key in keys] == [None, None]


async def test_a_script_new_to_the_server_runs_then_runs_by_its_sha(
    observed: ObservedStore, key_prefix: str
) -> None:
    # given a script no Redis has seen before
    key = f"{key_prefix}counter"
    script = Script(f"-- {key_prefix}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")

    # when it runs twice
    first = await observed.store.run(script, [key], [5])
    first_command = await observed.last_command(key)
    second = await observed.store.run(script, [key], [5])
    second_command = await observed.last_command(key)

    # then the first run falls back to EVAL and the second needs only EVALSHA
    assert (first, first_command, second, second_command) == (5, "eval", 10, "evalsha")


async def test_script_results_come_back_as_the_same_python_values_on_both_transports(
    observed: ObservedStore, key_prefix: str
) -> None:
    script = Script("return {ARGV[1], 7, {ARGV[2], false}}")

    result = await observed.store.run(script, [], ["text", "nested"])

    assert result == ["text", 7, ["nested", None]]


async def test_a_reachable_store_answers_ping(observed: ObservedStore) -> None:
    await observed.store.ping()


async def calls_failing_within(store: KeyValueStore, bound_s: float) -> dict[str, str]:
    """Every operation of `store`, with how it failed: "unavailable", "slow" or "succeeded"."""
    script = Script("return 1")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: store.get("k"),
        "set": lambda: store.set("k", "v", ttl_s=60),
        "delete": lambda: store.delete(["k"]),
        "run": lambda: store.run(script, ["k"], []),
        "ping": store.ping,
    }
    outcomes = {}
    for name, call in calls.items():
        started = time.monotonic()
        try:
            await call()
            outcomes[name] = "succeeded"
        except StoreUnavailable:
            outcomes[name] = "unavailable" if time.monotonic() - started < bound_s else "slow"
    return outcomes


ALL_UNAVAILABLE = dict.fromkeys(["get", "set", "delete", "run", "ping"], "unavailable")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_when_redis_dies_every_call_fails_fast_with_store_unavailable(
    transport: str, private_redis: RedisServer
) -> None:
    async with open_store(transport, private_redis.url, TIMEOUT_S) as store:
        # given a store that has been talking to Redis
        await store.set("k", "v", ttl_s=60)

        # when Redis dies
        private_redis.stop()

        # then
        assert await calls_failing_within(store, TIMEOUT_S + MARGIN_S) == ALL_UNAVAILABLE


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_call_cut_off_at_its_deadline_leaves_the_store_answering_correctly(
    transport: str, private_redis: RedisServer
) -> None:
    # given Redis busy past the deadline with a script that spins for 200 ms
    spin = Script(
        "local start = redis.call('TIME')\n"
        "repeat local now = redis.call('TIME')\n"
        "until (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > 200000\n"
        "return 'late reply'"
    )
    async with open_store(transport, private_redis.url, TIMEOUT_S) as store:
        await store.set("k", "v", ttl_s=60)
        with pytest.raises(StoreUnavailable, match="TimeoutError"):
            await store.run(spin, [], [])

        # when Redis is free again
        await asyncio.sleep(0.3)

        # then the next call gets its own reply, not the abandoned one
        assert await store.get("k") == "v"


async def test_when_the_upstash_endpoint_is_down_every_call_fails_fast() -> None:
    async with upstash_store(f"http://127.0.0.1:{free_port()}", TIMEOUT_S) as store:
        assert await calls_failing_within(store, TIMEOUT_S + MARGIN_S) == ALL_UNAVAILABLE


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_store_that_never_answers_fails_at_the_deadline(
    transport: str, silent_server: SilentServer
) -> None:
    # given a server that accepts the connection and then says nothing
    url = silent_server.redis_url if transport == "redis" else silent_server.http_url
    opened = tcp_store(url, TIMEOUT_S) if transport == "redis" else upstash_store(url, TIMEOUT_S)
    async with opened as store:
        # when
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get("k")
        elapsed = time.monotonic() - started

    # then the call waited for the deadline, and not much longer
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + MARGIN_S


@pytest.mark.parametrize(
    ("tcp", "upstash", "expected"),
    [
        (True, True, ("redis", "upstash", "upstash")),
        (True, False, ("redis", "redis", "redis")),
        (False, True, ("upstash", "upstash", "upstash")),
        (False, False, (None, None, None)),
    ],
    ids=["both", "tcp_only", "upstash_only", "none"],
)
async def test_caches_prefer_tcp_while_sessions_and_limits_prefer_upstash(
    tcp: bool, upstash: bool, expected: tuple[str | None, ...]
) -> None:
    settings = Settings(
        redis_url=REDIS_URL if tcp else None,
        upstash_redis_rest_url="http://upstash.test" if upstash else None,
        upstash_redis_rest_token=UPSTASH_TOKEN,
    )
    async with AsyncExitStack() as resources:
        stores = await open_stores(settings, resources)

        names = tuple(
            None if store is None else store.name
            for store in (stores.cache, stores.sessions, stores.limiter)
        )

    assert names == expected
