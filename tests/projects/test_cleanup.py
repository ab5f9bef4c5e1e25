"""The cleanup job: guest sites idle 7 days, sites never saved after 24 hours, expired template
cache entries and handoffs consumed over 30 days ago go, in batches, as the service role; nothing
else does; two runs at once share the work; a dry run counts. On both data planes.

The job deletes across every tenant, so it runs on a database of this module's own (emptied of
sites, templates and handoffs before each test) rather than the session's.
"""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from services.projects.cleanup import KINDS, Cleaned, clean_up
from shared.config import Settings
from shared.local_stack import PostgrestServer
from shared.migrations import migrate
from tests.conftest import JWT_SECRET, PLANES, create_database, drop_database, plane_settings
from tests.tenancy import service_role_key
from tests.world import a_user

Db = psycopg.Connection[dict[str, Any]]

DUE_NOTHING = [Cleaned(kind, 0) for kind in KINDS]


@contextmanager
def database_of_its_own() -> Iterator[tuple[str, str]]:
    """A new migrated database and real PostgREST on it: (owner's URL, PostgREST's URL)."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    try:
        migrate(url)
        api_url = make_conninfo(url, user="authenticator")
        with PostgrestServer(api_url, jwt_secret=JWT_SECRET) as server:
            yield url, server.url
    finally:
        drop_database(name)


def emptied(database_url: str) -> None:
    """No sites (nor anything hanging off them), cached templates or handoffs."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "truncate public.app_projects, public.template_cache, public.prompt_handoffs cascade"
        )


def service_settings(plane: str, database_url: str, rest_url: str) -> Settings:
    """The job's settings on `plane`: the service role's key, the authenticator's URL."""
    return plane_settings(
        plane, database_url, rest_url, supabase_service_role_key=service_role_key(JWT_SECRET)
    )


@pytest.fixture(scope="module")
def own_database() -> Iterator[tuple[str, str]]:
    with database_of_its_own() as database:
        yield database


@pytest.fixture(params=PLANES)
def job(request: pytest.FixtureRequest, own_database: tuple[str, str]) -> Settings:
    """The job's settings on each plane, over an emptied database of the module's own."""
    database_url, rest_url = own_database
    emptied(database_url)
    return service_settings(request.param, database_url, rest_url)


@pytest.fixture
def db(own_database: tuple[str, str]) -> Iterator[Db]:
    with psycopg.connect(own_database[0], autocommit=True, row_factory=dict_row) as conn:
        yield conn


# The world, written as the database owner -----------------------------------------------------


def a_site(
    db: Db,
    *,
    user_id: str | None = None,
    age_h: float,
    saved_age_h: float | None = None,
    touched_age_h: float | None = None,
) -> str:
    """A site of a new guest (or of `user_id`), created `age_h` hours ago and last changed
    `touched_age_h` hours ago (default: when created), with data saved `saved_age_h` hours ago
    (None: never saved)."""
    session = None if user_id else f"sess_{uuid.uuid4()}"
    row = db.execute(
        "insert into public.app_projects (user_id, session_id, name, created_at, updated_at)"
        " values (%s, %s, 'Site', now() - %s * interval '1 hour', now() - %s * interval '1 hour')"
        " returning id::text",
        (user_id, session, age_h, age_h if touched_age_h is None else touched_age_h),
    ).fetchone()
    assert row is not None
    if saved_age_h is not None:
        db.execute(
            "insert into public.project_data (project_id, demo_url, created_at, updated_at)"
            " values (%s, 'https://demo.example.com', now() - %s * interval '1 hour',"
            " now() - %s * interval '1 hour')",
            (row["id"], saved_age_h, saved_age_h),
        )
    site: str = row["id"]
    return site


def a_template(db: Db, expires_in_h: float) -> str:
    row = db.execute(
        "insert into public.template_cache (template_id, expires_at)"
        " values (%s, now() + %s * interval '1 hour') returning id::text",
        (f"tpl-{uuid.uuid4().hex[:8]}", expires_in_h),
    ).fetchone()
    assert row is not None
    template: str = row["id"]
    return template


def a_handoff(db: Db, *, age_h: float, consumed_age_h: float | None) -> str:
    row = db.execute(
        "insert into public.prompt_handoffs (session_id, prompt, created_at, consumed_at)"
        " values (%s, 'En bageri-sajt', now() - %s * interval '1 hour',"
        " now() - %s * interval '1 hour') returning id::text",
        (f"sess_{uuid.uuid4()}", age_h, consumed_age_h),
    ).fetchone()
    assert row is not None
    handoff: str = row["id"]
    return handoff


def ids_in(db: Db, table: str) -> set[str]:
    return {row["id"] for row in db.execute(f"select id::text from public.{table}").fetchall()}


DAY = 24


# Tests ------------------------------------------------------------------------------------------


async def test_each_kind_of_due_row_goes_and_nothing_else(
    job: Settings, own_database: tuple[str, str], db: Db
) -> None:
    user_id = a_user(own_database[0]).user_id
    # given what is due
    a_site(db, age_h=8 * DAY, saved_age_h=8 * DAY)  # a guest's, idle 7 days
    a_site(db, user_id=user_id, age_h=2 * DAY)  # a user's, never saved
    a_site(db, age_h=25)  # a guest's, never saved
    a_template(db, expires_in_h=-1)
    a_handoff(db, age_h=40 * DAY, consumed_age_h=31 * DAY)
    # and what is not
    kept_sites = {
        a_site(db, age_h=8 * DAY, saved_age_h=1 * DAY),  # saved since
        a_site(db, age_h=8 * DAY, saved_age_h=8 * DAY, touched_age_h=1 * DAY),  # renamed since
        a_site(db, user_id=user_id, age_h=30 * DAY, saved_age_h=30 * DAY),  # users' stay
        a_site(db, age_h=23),  # not a day old
    }
    kept_template = a_template(db, expires_in_h=DAY)
    kept_handoffs = {
        a_handoff(db, age_h=40 * DAY, consumed_age_h=29 * DAY),
        a_handoff(db, age_h=60 * DAY, consumed_age_h=None),
    }

    # when the job runs
    cleaned = await clean_up(job)

    # then it says what it removed, and only that is gone
    assert cleaned == [
        Cleaned("idle_guest_sites", 1),
        Cleaned("unsaved_sites", 2),
        Cleaned("expired_templates", 1),
        Cleaned("consumed_handoffs", 1),
    ]
    assert ids_in(db, "app_projects") == kept_sites
    assert ids_in(db, "template_cache") == {kept_template}
    assert ids_in(db, "prompt_handoffs") == kept_handoffs
    assert await clean_up(job) == DUE_NOTHING


async def test_a_removed_site_takes_everything_hanging_off_it(
    job: Settings, own_database: tuple[str, str], db: Db
) -> None:
    site = a_site(db, age_h=10 * DAY, saved_age_h=10 * DAY)
    db.execute(
        "insert into public.project_files (project_id, path, size_bytes)"
        " values (%s, 'index.html', 5)",
        (site,),
    )
    db.execute(
        "insert into public.company_profiles (project_id, company_name) values (%s, 'Bageriet')",
        (site,),
    )
    db.execute(
        "insert into public.prompt_handoffs (session_id, project_id, prompt)"
        " values ('sess_x', %s, 'Bygg')",
        (site,),
    )
    image_path = f"images/{uuid.uuid4()}.png"
    db.execute(
        "insert into public.images (project_id, filename, file_path) values (%s, 'a.png', %s)",
        (site, image_path),
    )

    cleaned = await clean_up(job)

    assert cleaned[0] == Cleaned("idle_guest_sites", 1)
    for table in ("project_data", "project_files", "company_profiles", "prompt_handoffs", "images"):
        counted = db.execute(
            f"select count(*) as n from public.{table} where project_id = %s", (site,)
        ).fetchone()
        assert counted == {"n": 0}, table
    # The media service's storage hook, where its migration is in: the stored image is queued.
    if db.execute("select to_regclass('public.storage_deletions') as t").fetchone() != {"t": None}:
        queued = db.execute(
            "select count(*) as n from public.storage_deletions where file_path = %s",
            (image_path,),
        ).fetchone()
        assert queued == {"n": 1}


async def test_a_dry_run_counts_what_is_due_and_removes_nothing(job: Settings, db: Db) -> None:
    for _ in range(3):
        a_site(db, age_h=2 * DAY)
    a_site(db, age_h=9 * DAY, saved_age_h=9 * DAY)
    a_template(db, expires_in_h=-2)
    a_template(db, expires_in_h=-3)

    counted = await clean_up(job, dry_run=True)
    counted_again = await clean_up(job, dry_run=True)
    removed = await clean_up(job)

    expected = [
        Cleaned("idle_guest_sites", 1),
        Cleaned("unsaved_sites", 3),
        Cleaned("expired_templates", 2),
        Cleaned("consumed_handoffs", 0),
    ]
    assert counted == counted_again == removed == expected


async def test_two_runs_at_once_remove_each_row_once_in_batches(job: Settings, db: Db) -> None:
    for _ in range(45):
        a_site(db, age_h=2 * DAY)
    for _ in range(12):
        a_site(db, age_h=8 * DAY, saved_age_h=8 * DAY)
    for _ in range(20):
        a_template(db, expires_in_h=-1)
    for _ in range(8):
        a_handoff(db, age_h=50 * DAY, consumed_age_h=40 * DAY)

    first, second = await asyncio.gather(clean_up(job, batch_size=4), clean_up(job, batch_size=4))

    together = {kind: a.count + b.count for kind, a, b in zip(KINDS, first, second, strict=True)}
    assert together == {
        "idle_guest_sites": 12,
        "unsaved_sites": 45,
        "expired_templates": 20,
        "consumed_handoffs": 8,
    }
    assert await clean_up(job, dry_run=True) == DUE_NOTHING


async def test_without_a_way_in_as_the_service_role_the_job_says_what_is_missing(
    job: Settings,
) -> None:
    missing = {"postgrest": "supabase_service_role_key", "postgres": "database_url"}
    field = missing[job.data_plane]

    with pytest.raises(ValueError, match=field.upper()):
        await clean_up(msgspec.structs.replace(job, **{field: None}))
