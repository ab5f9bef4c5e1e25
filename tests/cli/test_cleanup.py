"""`sajtmaskin cleanup [--dry-run]` as a scheduler runs it: the service role's way in from the
environment, one line per kind of what it removed (or, dry, what is due); on both data planes."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from services.cli import main
from tests.conftest import JWT_SECRET, PLANES
from tests.projects.test_cleanup import a_handoff, a_site, a_template, database_of_its_own, emptied
from tests.tenancy import anon_key, service_role_key

SAJTMASKIN = Path(sys.executable).with_name("sajtmaskin")
DAY = 24

Db = psycopg.Connection[dict[str, Any]]


@pytest.fixture(scope="module")
def own_database() -> Iterator[tuple[str, str]]:
    with database_of_its_own() as database:
        yield database


@pytest.fixture(params=PLANES)
def environment(request: pytest.FixtureRequest, own_database: tuple[str, str]) -> dict[str, str]:
    """The job's environment on each plane, over an emptied database of the module's own."""
    database_url, rest_url = own_database
    emptied(database_url)
    return {
        "DATA_PLANE": request.param,
        "DATABASE_URL": make_conninfo(database_url, user="authenticator"),
        "SUPABASE_REST_URL": rest_url,
        "SUPABASE_ANON_KEY": anon_key(JWT_SECRET),
        "SUPABASE_SERVICE_ROLE_KEY": service_role_key(JWT_SECRET),
        "JWT_SECRET": JWT_SECRET,
    }


@pytest.fixture
def db(own_database: tuple[str, str]) -> Iterator[Db]:
    with psycopg.connect(own_database[0], autocommit=True, row_factory=dict_row) as conn:
        yield conn


def cleanup(environment: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, ["cleanup", *args], env=environment)


def a_bit_of_everything_due(db: Db) -> None:
    a_site(db, age_h=8 * DAY, saved_age_h=8 * DAY)
    a_site(db, age_h=2 * DAY)
    a_site(db, age_h=3 * DAY)
    a_template(db, expires_in_h=-1)
    a_handoff(db, age_h=40 * DAY, consumed_age_h=35 * DAY)
    a_site(db, age_h=1)  # not due


def test_the_job_prints_what_it_removed_of_each_kind(
    environment: dict[str, str | None], db: Db
) -> None:
    a_bit_of_everything_due(db)

    result = cleanup(environment)

    assert (result.exit_code, result.output.splitlines()) == (
        0,
        [
            "idle_guest_sites: 1 removed - guest sites idle for 7 days",
            "unsaved_sites: 2 removed - sites never saved after 24 hours",
            "expired_templates: 1 removed - expired template cache entries",
            "consumed_handoffs: 1 removed - prompt handoffs consumed over 30 days ago",
        ],
    )
    assert db.execute("select count(*) as n from public.app_projects").fetchone() == {"n": 1}


def test_a_dry_run_prints_what_is_due_and_removes_nothing(
    environment: dict[str, str | None], db: Db
) -> None:
    a_bit_of_everything_due(db)

    result = cleanup(environment, "--dry-run")

    assert result.exit_code == 0
    assert result.output.splitlines()[1] == (
        "unsaved_sites: 2 due (dry run, nothing removed) - sites never saved after 24 hours"
    )
    assert db.execute("select count(*) as n from public.app_projects").fetchone() == {"n": 4}


async def test_two_jobs_started_at_once_both_succeed_and_remove_each_row_once(
    environment: dict[str, str], db: Db
) -> None:
    for _ in range(30):
        a_site(db, age_h=2 * DAY)

    # As cron would start them: two processes of the installed command.
    async def run() -> tuple[int | None, bytes]:
        process = await asyncio.create_subprocess_exec(
            str(SAJTMASKIN),
            "cleanup",
            "--batch-size",
            "3",
            env=os.environ | environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        output, _ = await process.communicate()
        return process.returncode, output

    runs = await asyncio.gather(run(), run())

    assert [code for code, _ in runs] == [0, 0]
    removed = [
        int(line.split()[1])
        for _, output in runs
        for line in output.decode().splitlines()
        if line.startswith("unsaved_sites:")
    ]
    assert sum(removed) == 30
    assert db.execute("select count(*) as n from public.app_projects").fetchone() == {"n": 0}


def test_without_a_way_in_as_the_service_role_the_job_says_what_is_missing(
    environment: dict[str, str | None],
) -> None:
    needed = {"postgres": "DATABASE_URL", "postgrest": "SUPABASE_SERVICE_ROLE_KEY"}[
        str(environment["DATA_PLANE"])
    ]

    result = cleanup({**environment, needed: None})

    assert result.exit_code == 1
    assert needed in result.output


def test_a_batch_size_below_one_is_refused(environment: dict[str, str | None]) -> None:
    result = cleanup(environment, "--batch-size", "0")

    assert result.exit_code == 2
    assert "--batch-size" in result.output
