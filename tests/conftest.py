"""Session-wide real parts: a fresh migrated database on the test server and PostgREST 12 on it."""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.config import Settings
from shared.local_stack import PostgrestServer
from shared.migrations import migrate
from standins.http_server import serve_http
from standins.v0 import V0StandIn
from standins.vercel import VercelStandIn
from tests.fakes.stripe import FakeStripe
from tests.tenancy import anon_key

# Redis, Upstash-protocol and stoppable-server fixtures, available to every test.
pytest_plugins = ["tests.fakes.redis_fixtures"]

# The server the tests create their databases on; they never touch its other databases.
SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
JWT_SECRET = "sajtmaskin-test-jwt-secret-of-32-chars-or-more"


def database_on_server(name: str) -> str:
    """The URL of database `name` on the test server."""
    return make_conninfo(SERVER_URL, dbname=name)


def create_database(name: str) -> str:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return database_on_server(name)


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A new, empty database that is dropped after the test."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """One migrated database shared by the session's read-only and rolled-back tests."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    migrate(url)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def postgrest_url(database_url: str) -> Iterator[str]:
    """Real PostgREST 12 serving the migrated database, logging in as `authenticator`."""
    params = conninfo_to_dict(database_url)
    params["user"] = "authenticator"
    with PostgrestServer(make_conninfo("", **params), jwt_secret=JWT_SECRET) as server:
        yield server.url


PLANES = ("postgrest", "postgres")


def plane_settings(plane: str, database_url: str, rest_url: str, **overrides: object) -> Settings:
    """Settings that serve `database_url` on `plane`, as a deployment would configure it."""
    values: dict[str, object] = {
        "data_plane": plane,
        "database_url": make_conninfo(database_url, user="authenticator"),
        "supabase_rest_url": rest_url,
        "supabase_anon_key": anon_key(JWT_SECRET),
        "jwt_secret": JWT_SECRET,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=PLANES)
def settings(request: pytest.FixtureRequest, database_url: str, postgrest_url: str) -> Settings:
    """Service settings on the session database; a test using them runs once per data plane."""
    return plane_settings(request.param, database_url, postgrest_url)


@pytest.fixture(scope="module")
def served_v0() -> Iterator[V0StandIn]:
    """v0's stand-in, served over HTTP for a test module (point V0_API_URL at its `base_url`)."""
    standin = V0StandIn()
    with serve_http(standin) as url:
        standin.base_url = url
        yield standin


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    """The Stripe API's fake, served over HTTP (point STRIPE_API_BASE at its `base_url`)."""
    fake = FakeStripe()
    with serve_http(fake) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
def vercel_api() -> Iterator[VercelStandIn]:
    """Vercel's stand-in, served over HTTP (point VERCEL_API_URL at its `base_url`)."""
    standin = VercelStandIn()
    with serve_http(standin) as url:
        standin.base_url = url
        yield standin
