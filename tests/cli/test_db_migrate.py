"""`sajtmaskin db migrate` and `reset` as the README runs them: a database URL, nothing else."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared.local_stack import seed_demo_logins
from shared.migrations import SUPABASE_DIR, local_migrations
from tests.conftest import database_on_server, drop_database

SAJTMASKIN = Path(sys.executable).with_name("sajtmaskin")


@pytest.fixture
def missing_database() -> Iterator[tuple[str, str]]:
    """The name and URL of a database the test server does not have; dropped after the test."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    yield name, database_on_server(name)
    drop_database(name)


def sajtmaskin(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"DATABASE_URL": database_url}
    return subprocess.run(
        [str(SAJTMASKIN), *args], capture_output=True, text=True, env=environment, check=False
    )


def test_migrate_creates_a_database_missing_on_this_machine_then_migrates_it(
    missing_database: tuple[str, str],
) -> None:
    # given a URL naming a database the local server does not have
    name, url = missing_database
    applied = [f"applied {migration.path.stem}" for migration in local_migrations(SUPABASE_DIR)]

    # when `sajtmaskin db migrate` runs on it
    result = sajtmaskin("db", "migrate", database_url=url)

    # then it says it created the database, applied every migration, and the schema is there
    assert (result.returncode, result.stdout.splitlines()) == (
        0,
        [f"created database {name}", *applied],
    ), result.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.users')").fetchone() == ("users",)


def test_reset_after_migrate_loads_the_seed_with_its_demo_users(
    missing_database: tuple[str, str],
) -> None:
    # given a database created and migrated by `db migrate`
    _, url = missing_database
    migrated = sajtmaskin("db", "migrate", database_url=url)

    # when it is reset
    reset = sajtmaskin("db", "reset", database_url=url)

    # then it holds the seed, whose users are the demo logins
    assert migrated.returncode == 0, migrated.stderr
    assert (reset.returncode, reset.stdout.splitlines()[-1]) == (0, "loaded seed.sql")
    with psycopg.connect(url) as conn:
        emails = conn.execute("select email from public.users").fetchall()
    assert sorted(email for (email,) in emails) == sorted(
        login.email for login in seed_demo_logins()
    )
