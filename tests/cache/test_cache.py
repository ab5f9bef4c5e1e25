"""The caches speed reads up, expire on time, and never stand between a request and the database."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

import msgspec
import pytest
import redis.asyncio as redis_asyncio

from services.projects.cache import AUDIT, AUDIT_LIST, PREVIEW
from shared.cache import (
    PROJECT_FILES,
    PROJECT_LIST,
    PROJECT_META,
    USER_SESSION,
    Cache,
    CacheFamily,
)
from shared.config import Settings
from shared.kv import Stores, open_stores
from shared.logging import configure_logging
from tests.fakes.redis_fixtures import REDIS_URL, UPSTASH_TOKEN
from tests.fakes.redis_server import RedisServer
from tests.fakes.upstash_server import UpstashServer

TIMEOUT_MS = 50
"""The deadline of tests that take Redis down; others allow a loaded machine a whole second."""
# Scheduling slack on a loaded two-core machine; a cache that waited for Redis would take seconds.
MARGIN_S = 0.25
CONFIGURATIONS = ("tcp", "upstash")

T = TypeVar("T")


class ProjectMeta(msgspec.Struct, frozen=True, rename="camel"):
    project_id: str
    project_name: str


class PublicUser(msgspec.Struct, frozen=True, rename="camel"):
    user_id: str
    credits: int


def settings_for(
    configuration: str,
    *,
    redis_url: str,
    upstash_url: str,
    key_prefix: str = "",
    timeout_ms: int = 1000,
) -> Settings:
    """The deployment's settings: "tcp" (REDIS_URL), "upstash" (REST only) or "both"."""
    return Settings(
        redis_url=redis_url if configuration in ("tcp", "both") else None,
        upstash_redis_rest_url=upstash_url if configuration in ("upstash", "both") else None,
        upstash_redis_rest_token=UPSTASH_TOKEN,
        redis_key_prefix=key_prefix,
        cache_timeout_ms=timeout_ms,
    )


@asynccontextmanager
async def cache_for(settings: Settings) -> AsyncIterator[Cache]:
    """The cache the app builds from `settings`."""
    async with AsyncExitStack() as resources:
        yield Cache(await open_stores(settings, resources), settings.redis_key_prefix)


@pytest.fixture(params=CONFIGURATIONS)
async def cache(
    request: pytest.FixtureRequest, upstash_server: UpstashServer, key_prefix: str
) -> AsyncIterator[Cache]:
    """A cache on the real Redis, reached over TCP or over Upstash REST, under a test prefix."""
    settings = settings_for(
        request.param, redis_url=REDIS_URL, upstash_url=upstash_server.url, key_prefix=key_prefix
    )
    async with cache_for(settings) as cache:
        yield cache


class CountingLoader:
    """The database, as a cache sees it: answers with `value` and counts how often it was asked."""

    def __init__(self, value: ProjectMeta) -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> ProjectMeta:
        self.calls += 1
        return self.value


def new_id() -> str:
    return str(uuid.uuid4())


async def timed(call: Awaitable[T]) -> tuple[T, bool]:
    """`call`'s result, and whether it came within the cache deadline (plus scheduling slack)."""
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started < TIMEOUT_MS / 1000 + MARGIN_S


@pytest.mark.parametrize("family", [PROJECT_META, USER_SESSION], ids=["cache", "sessions"])
async def test_a_value_set_is_read_back_as_its_type(cache: Cache, family: CacheFamily) -> None:
    key = family.key(new_id())
    meta = ProjectMeta(project_id="p1", project_name="Bageriet")

    await cache.set(key, meta)

    assert await cache.get(key, ProjectMeta) == meta


async def test_a_key_never_set_is_a_miss(cache: Cache) -> None:
    assert await cache.get(PROJECT_META.key(new_id()), ProjectMeta) is None


async def test_read_through_loads_once_then_serves_from_the_cache(cache: Cache) -> None:
    key = PROJECT_META.key(new_id())
    database = CountingLoader(ProjectMeta(project_id="p1", project_name="Bageriet"))

    first = await cache.get_or_load(key, ProjectMeta, database)
    second = await cache.get_or_load(key, ProjectMeta, database)

    assert (first, second, database.calls) == (database.value, database.value, 1)


async def test_after_a_write_and_its_invalidation_the_next_read_loads_fresh(cache: Cache) -> None:
    # given a cached project
    project_id = new_id()
    database = CountingLoader(ProjectMeta(project_id=project_id, project_name="Bageriet"))
    await cache.get_or_load(PROJECT_META.key(project_id), ProjectMeta, database)

    # when the project is renamed and its entry invalidated
    database.value = ProjectMeta(project_id=project_id, project_name="Konditoriet")
    await cache.invalidate(PROJECT_META.key(project_id))

    # then
    fresh = await cache.get_or_load(PROJECT_META.key(project_id), ProjectMeta, database)
    assert fresh.project_name == "Konditoriet"


async def test_one_invalidation_deletes_entries_of_several_families_and_stores(
    cache: Cache,
) -> None:
    project_id, owner_id = new_id(), new_id()
    keys = [
        PROJECT_META.key(project_id),
        PROJECT_FILES.key(project_id),
        PROJECT_LIST.key(owner_id),
        USER_SESSION.key(owner_id),
    ]
    for key in keys:
        await cache.set(key, {"cached": True})

    await cache.invalidate(*keys)

    assert [await cache.get(key, dict[str, bool]) for key in keys] == [None] * len(keys)


@pytest.mark.parametrize(
    ("family", "key_format", "ttl_s"),
    [
        pytest.param(USER_SESSION, "user:session:{}", 7 * 24 * 3600, id="user_session"),
        pytest.param(AUDIT, "audit:{}", 24 * 3600, id="audit"),
        pytest.param(AUDIT_LIST, "audit_list:{}", 24 * 3600, id="audit_list"),
        pytest.param(PROJECT_FILES, "project:files:{}", 3600, id="project_files"),
        pytest.param(PROJECT_META, "project:meta:{}", 3600, id="project_meta"),
        pytest.param(PROJECT_LIST, "cache:projects:list:{}", 3600, id="project_list"),
        pytest.param(PREVIEW, "preview:{}", 24 * 3600, id="preview"),
    ],
)
async def test_each_family_writes_the_specs_key_with_the_specs_ttl(
    cache: Cache,
    redis_inspector: redis_asyncio.Redis,
    key_prefix: str,
    family: CacheFamily,
    key_format: str,
    ttl_s: int,
) -> None:
    # given an entry of the family, under the deployment's prefix
    entity_id = new_id()
    await cache.set(family.key(entity_id), {"id": entity_id})

    # when Redis is read directly
    key = key_prefix + key_format.format(entity_id)
    stored, ttl = await redis_inspector.get(key), await redis_inspector.ttl(key)

    # then the key is the seed's, behind the prefix, and lives as long as the spec says
    assert (stored, ttl_s - 1 <= ttl <= ttl_s) == (f'{{"id":"{entity_id}"}}', True)


async def test_an_entry_is_gone_once_its_ttl_has_passed(cache: Cache) -> None:
    key = CacheFamily("test-expiry:", ttl_s=1).key(new_id())
    await cache.set(key, {"fresh": True})

    await asyncio.sleep(1.1)

    assert await cache.get(key, dict[str, bool]) is None


async def test_an_unreadable_entry_is_a_miss_and_is_replaced_by_the_loaded_value(
    cache: Cache, redis_inspector: redis_asyncio.Redis, key_prefix: str
) -> None:
    # given an entry written in a shape the type no longer has
    project_id = new_id()
    await redis_inspector.set(f"{key_prefix}project:meta:{project_id}", '{"title": 1}', ex=60)
    database = CountingLoader(ProjectMeta(project_id=project_id, project_name="Bageriet"))

    # when
    loaded = await cache.get_or_load(PROJECT_META.key(project_id), ProjectMeta, database)

    # then the database answered, and its answer replaced the entry
    assert (loaded, await cache.get(PROJECT_META.key(project_id), ProjectMeta)) == (
        database.value,
        database.value,
    )


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
async def test_with_redis_down_reads_fall_back_to_the_database_and_writes_do_not_raise(
    configuration: str, private_redis: RedisServer
) -> None:
    with UpstashServer(private_redis.url, UPSTASH_TOKEN) as upstash:
        settings = settings_for(
            configuration,
            redis_url=private_redis.url,
            upstash_url=upstash.url,
            timeout_ms=TIMEOUT_MS,
        )
        async with cache_for(settings) as cache:
            # given a cache that was working, and a database that answers
            project_id = new_id()
            key = PROJECT_META.key(project_id)
            database = CountingLoader(ProjectMeta(project_id=project_id, project_name="Bageriet"))
            await cache.set(key, database.value)

            # when Redis dies
            private_redis.stop()
            answers = [
                await timed(cache.get(key, ProjectMeta)),
                await timed(cache.get_or_load(key, ProjectMeta, database)),
                await timed(cache.set(key, database.value)),
                await timed(cache.invalidate(key, USER_SESSION.key(new_id()))),
            ]

    # then the database answered, nothing raised, and no call waited much past its deadline
    assert answers == [(None, True), (database.value, True), (None, True), (None, True)]


async def test_an_outage_is_logged_once_per_call_without_a_traceback(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("info")  # structlog through the standard library, where caplog listens
    settings = settings_for(
        "tcp", redis_url=private_redis.url, upstash_url="", timeout_ms=TIMEOUT_MS
    )
    async with cache_for(settings) as cache:
        private_redis.stop()
        database = CountingLoader(ProjectMeta(project_id="p1", project_name="Bageriet"))

        with caplog.at_level(logging.WARNING, logger="shared.cache"):
            await cache.get_or_load(PROJECT_META.key("p1"), ProjectMeta, database)

    # structlog hands the standard library its event dict as the record's message.
    events = [
        (record.msg["event"], record.exc_info)  # type: ignore[index]
        for record in caplog.records
        if record.name == "shared.cache"
    ]
    assert events == [("cache unavailable", None)]


async def test_without_any_store_every_read_loads_and_writes_are_silently_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = Cache(Stores(cache=None, sessions=None, limiter=None))
    database = CountingLoader(ProjectMeta(project_id="p1", project_name="Bageriet"))

    with caplog.at_level(logging.DEBUG, logger="shared.cache"):
        await cache.set(PROJECT_META.key("p1"), database.value)
        for _ in range(2):
            await cache.get_or_load(PROJECT_META.key("p1"), ProjectMeta, database)
        await cache.invalidate(PROJECT_META.key("p1"))

    assert (database.calls, caplog.records) == (2, [])


@pytest.mark.parametrize(
    ("configuration", "sessions_over_upstash"), [("both", True), ("tcp", False)]
)
async def test_user_sessions_go_to_upstash_when_configured_and_to_tcp_otherwise(
    configuration: str,
    sessions_over_upstash: bool,
    upstash_server: UpstashServer,
    redis_inspector: redis_asyncio.Redis,
    key_prefix: str,
) -> None:
    # given a deployment with both transports, or TCP only
    settings = settings_for(
        configuration, redis_url=REDIS_URL, upstash_url=upstash_server.url, key_prefix=key_prefix
    )
    user_id = new_id()
    async with cache_for(settings) as cache:
        # when a user's session and a project are cached
        await cache.set(USER_SESSION.key(user_id), PublicUser(user_id=user_id, credits=5))
        await cache.set(PROJECT_META.key(user_id), {"cached": True})

    # then both land in Redis, and only the session went through Upstash, if configured
    keys = (f"{key_prefix}user:session:{user_id}", f"{key_prefix}project:meta:{user_id}")
    sent_to_upstash = {argument for command in upstash_server.commands for argument in command}
    assert (
        await redis_inspector.exists(*keys),
        [key in sent_to_upstash for key in keys],
    ) == (2, [sessions_over_upstash, False])
