"""Session-wide real parts: a fresh migrated database on the test server and PostgREST 12 on it."""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.local_stack import PostgrestServer
from shared.migrations import migrate

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
