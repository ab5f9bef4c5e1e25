"""Rate limiting: what one decision costs over a bare round trip to the same store, and what a
limited route serves per second against the same route with limiting off.

Transports: Redis over TCP (redis-py) and the Upstash REST protocol (upstash-redis) served by the
in-repo Upstash server over the same local Redis — so the REST figures show the protocol's own
cost on loopback, not Upstash's network distance.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import redis.asyncio as redis_asyncio
from litestar import Litestar, Router, get
from litestar.testing import AsyncTestClient
from psycopg.conninfo import make_conninfo
from upstash_redis.asyncio import Redis as UpstashRedis

from bench.measure import Figures, measure, table
from bench.servers import postgres_server_url, redis_server_url
from shared.app import create_service_app
from shared.config import Settings
from shared.kv import KeyValueStore, TcpStore, UpstashStore
from shared.ratelimit import Policy, RateLimiter
from tests.fakes.upstash_server import UpstashServer

# Far above any figure: a slow call should show in p99, not end the run as a timeout.
STORE_TIMEOUT_S = 10.0
TOKEN = "bench-token"  # noqa: S105 - the local test server's, not a secret
DECISIONS = {1: 2000, 32: 4000}
ROUTE_REQUESTS = {1: 1000, 32: 2000}
# Generous enough that the benchmark measures decisions, not rejections.
ROOMY = {"bench": Policy(10_000_000, 60, "open")}


async def store_figures(name: str, store: KeyValueStore) -> list[Figures]:
    limiter = RateLimiter(store, key_prefix=f"bench-{uuid.uuid4()}:", policies=ROOMY)
    figures = []
    for concurrency, requests in DECISIONS.items():
        figures.append(
            await measure(
                f"{name}: PING (floor)", store.ping, concurrency=concurrency, requests=requests
            )
        )

        async def decide() -> None:
            await limiter.hit("bench", "user:bench")

        figures.append(
            await measure(
                f"{name}: limiter decision", decide, concurrency=concurrency, requests=requests
            )
        )
    return figures


@get("/items", sync_to_thread=False)
def items() -> list[int]:
    return [1, 2, 3]


@asynccontextmanager
async def service(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_service_app("bench", [Router(path="/bench", route_handlers=[items])], settings)
    async with AsyncTestClient(app) as client:
        yield client


async def route_figures(settings: Settings) -> list[Figures]:
    figures = []
    for enabled in (False, True):
        label = "GET /bench/items, limiting " + ("on (reads)" if enabled else "off (floor)")
        async with service(msgspec.structs.replace(settings, rate_limit_enabled=enabled)) as client:

            async def fetch(client: AsyncTestClient[Litestar] = client) -> None:
                response = await client.get("/bench/items")
                response.raise_for_status()

            for concurrency, requests in ROUTE_REQUESTS.items():
                figures.append(
                    await measure(label, fetch, concurrency=concurrency, requests=requests)
                )
    return figures


async def run(database_url: str, redis_url: str) -> tuple[list[Figures], list[Figures]]:
    tcp = redis_asyncio.Redis.from_url(redis_url)
    with UpstashServer(redis_url, TOKEN) as upstash_server:
        upstash = UpstashRedis(upstash_server.url, TOKEN, rest_retries=0, allow_telemetry=False)
        try:
            stores = await store_figures("TCP", TcpStore(tcp, timeout_s=STORE_TIMEOUT_S))
            stores += await store_figures(
                "Upstash REST", UpstashStore(upstash, timeout_s=STORE_TIMEOUT_S)
            )
        finally:
            await upstash.close()
            await tcp.aclose()
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=f"bench-{uuid.uuid4()}:",
        # The route's own policy, made roomy so that no request is turned away.
        # (An interval of a second: a finer one is refused, beyond what the limiter can count.)
        rate_limits=("reads=100000000/100000000",),
        log_level="warning",
    )
    routes = await route_figures(settings)
    return stores, routes


def main() -> None:
    with redis_server_url() as redis_url:
        stores, routes = asyncio.run(
            run(make_conninfo(postgres_server_url(), user="authenticator"), redis_url)
        )
    print("\nRate limiter: one decision against a bare PING on the same transport:\n")
    for transport in ("TCP", "Upstash REST"):
        rows = [row for row in stores if row.name.startswith(transport + ":")]
        print(table(rows, {row.concurrency: row for row in rows if "floor" in row.name}))
        print()
    print("A limited route against the same route with limiting off (in-process ASGI):\n")
    print(table(routes, {row.concurrency: row for row in routes if "floor" in row.name}))
