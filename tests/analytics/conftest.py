"""The analytics service on the session database, once per data plane, with Redis for its limits
under a prefix of each test's own; the database as its owner for reading what was stored.

Page views from different tests share the session database, so each test's views carry paths
under a prefix of its own (`run`)."""

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg.rows import dict_row

from services.analytics.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL
from tests.tenancy import service_role_key

AnalyticsClient = AsyncTestClient[Litestar]
Db = psycopg.Connection[dict[str, Any]]

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
"""A browser's user agent: views with it are stored."""


@pytest.fixture
def analytics_settings(settings: Settings, key_prefix: str) -> Settings:
    """The analytics service as deployed (the service role's key, Redis under this test's
    prefix), flushing every 50 ms so that tests need not wait long for a batch."""
    return msgspec.structs.replace(
        settings,
        supabase_service_role_key=service_role_key(JWT_SECRET),
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
        rate_limit_timeout_ms=2000,
        page_view_flush_ms=50,
    )


@pytest.fixture
async def analytics(analytics_settings: Settings) -> AsyncIterator[AnalyticsClient]:
    async with AsyncTestClient(create_app(analytics_settings)) as client:
        yield client


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    """The session database as its owner, each statement committed."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def run(database_url: str) -> Iterator[str]:
    """A path prefix no other test's views share; its views are deleted after the test (the
    schema tests that share the session database count every page view)."""
    prefix = f"/t-{uuid.uuid4().hex[:12]}"
    yield prefix
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from public.page_views where path like %s", (f"{prefix}%",))


def stored(db: Db, run: str) -> list[dict[str, Any]]:
    """The page views stored under `run`, oldest first."""
    return db.execute(
        "select * from public.page_views where path like %s order by id", (f"{run}%",)
    ).fetchall()


def views_of(db: Db, run: str) -> int:
    """How many page views are stored under `run`."""
    row = db.execute(
        "select count(*) as n from public.page_views where path like %s", (f"{run}%",)
    ).fetchone()
    assert row is not None
    return int(row["n"])
