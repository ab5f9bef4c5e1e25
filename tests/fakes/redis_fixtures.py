"""Redis fixtures for every test (registered as a plugin by tests/conftest.py).

The real Redis (TEST_REDIS_URL) is shared with parallel test processes: tests write under
`key_prefix`, never flush, and stop only a `private_redis` of their own.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis_asyncio

from shared.config import Settings
from shared.kv import KeyValueStore, TcpStore, UpstashStore, tcp_client, upstash_client
from tests.fakes.redis_server import RedisServer, SilentServer
from tests.fakes.upstash_server import UpstashServer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UPSTASH_TOKEN = "upstash-test-token"
TRANSPORTS = ("redis", "upstash")
"""`KeyValueStore.name` of each transport, for `pytest.mark.parametrize(..., ids=...)`."""


@asynccontextmanager
async def tcp_store(redis_url: str, timeout_s: float) -> AsyncIterator[TcpStore]:
    """A TcpStore on `redis_url`, its client made as the app makes it."""
    client = tcp_client(Settings(redis_url=redis_url))
    assert client is not None
    try:
        yield TcpStore(client, timeout_s)
    finally:
        await client.aclose()


@asynccontextmanager
async def upstash_store(rest_url: str, timeout_s: float) -> AsyncIterator[UpstashStore]:
    """An UpstashStore on `rest_url` with `UPSTASH_TOKEN`, its client made as the app makes it."""
    settings = Settings(upstash_redis_rest_url=rest_url, upstash_redis_rest_token=UPSTASH_TOKEN)
    client = upstash_client(settings)
    assert client is not None
    try:
        yield UpstashStore(client, timeout_s)
    finally:
        await client.close()


@asynccontextmanager
async def open_store(
    transport: str, redis_url: str, timeout_s: float
) -> AsyncIterator[KeyValueStore]:
    """A store of `transport` ("redis" or "upstash") reaching the Redis at `redis_url`; for
    "upstash", through an Upstash test server of its own."""
    if transport == "redis":
        async with tcp_store(redis_url, timeout_s) as store:
            yield store
        return
    with UpstashServer(redis_url, UPSTASH_TOKEN) as server:
        async with upstash_store(server.url, timeout_s) as upstash:
            yield upstash


@pytest.fixture(scope="session")
def upstash_server() -> Iterator[UpstashServer]:
    """The Upstash REST protocol over the real Redis, accepting `UPSTASH_TOKEN`."""
    with UpstashServer(REDIS_URL, UPSTASH_TOKEN) as server:
        yield server


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may `stop()` to take Redis down."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    """A server that accepts connections and never answers (`.redis_url`, `.http_url`)."""
    async with SilentServer() as server:
        yield server


@pytest.fixture
async def key_prefix() -> AsyncIterator[str]:
    """A prefix no other test's keys share; its keys are deleted after the test."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    async with redis_asyncio.Redis.from_url(REDIS_URL) as client:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)


@pytest.fixture
async def redis_inspector() -> AsyncIterator[redis_asyncio.Redis]:
    """A plain client of the real Redis, to see what landed there (replies decoded to str)."""
    client = redis_asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()
