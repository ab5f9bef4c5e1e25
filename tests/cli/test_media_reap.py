"""`sajtmaskin media reap [--fix]` as an operator runs it: as the service role from the
environment, on both data planes and both stores (Supabase Storage through its stand-in, and
the local directory), over a database of its own. It reports objects no row names and rows whose
object is gone, leaves fresh uploads and queued deletions alone, and with --fix deletes the
orphans and removes the rows, saying which."""

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg.conninfo import make_conninfo

from services.cli import main
from services.media.storage import open_storage
from shared.config import load_settings
from standins.http_server import serve_http
from standins.storage import StorageStandIn
from tests.conftest import JWT_SECRET, PLANES
from tests.projects.test_cleanup import database_of_its_own
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_user, sites

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Own:
    database_url: str
    rest_url: str
    storage_url: str


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    with database_of_its_own() as (database_url, rest_url):
        standin = StorageStandIn(database_url, JWT_SECRET, tmp_path_factory.mktemp("storage"))
        with serve_http(standin) as url:
            yield Own(database_url, rest_url, f"{url}/storage/v1")


@pytest.fixture(
    params=[(plane, store) for plane in PLANES for store in ("supabase", "local")],
    ids=lambda param: "-".join(param),
)
def environment(request: pytest.FixtureRequest, own: Own, tmp_path: Path) -> dict[str, str]:
    """The command's environment on each plane and store, over an emptied database."""
    plane, store = request.param
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        conn.execute(
            "truncate public.media_library, public.images, public.storage_deletions,"
            " public.app_projects cascade"
        )
        conn.execute("delete from storage.objects")
    return {
        "DATA_PLANE": plane,
        "DATABASE_URL": make_conninfo(own.database_url, user="authenticator"),
        "SUPABASE_REST_URL": own.rest_url,
        "SUPABASE_ANON_KEY": anon_key(JWT_SECRET),
        "SUPABASE_SERVICE_ROLE_KEY": service_role_key(JWT_SECRET),
        "JWT_SECRET": JWT_SECRET,
        **(
            {"SUPABASE_STORAGE_URL": own.storage_url}
            if store == "supabase"
            else {"MEDIA_DIR": str(tmp_path / "media")}
        ),
    }


def reap(environment: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["media", "reap", *args], env=environment)


def a_path(owner: Person, *, age_ms: int = 2 * HOUR_MS) -> str:
    stamp = int(time.time() * 1000) - age_ms
    return f"{owner.user_id}/images/{stamp}_{secrets.token_hex(6)}.png"


def store(environment: dict[str, str], *paths: str) -> None:
    async def put() -> None:
        async with httpx.AsyncClient() as http:
            storage = open_storage(load_settings(environment), http)
            for path in paths:
                await storage.put(path, b"\x89PNG\r\n\x1a\n", "image/png", None)

    asyncio.run(put())


def stored(environment: dict[str, str]) -> list[str]:
    async def listed() -> list[str]:
        async with httpx.AsyncClient() as http:
            return await open_storage(load_settings(environment), http).list_paths("")

    return asyncio.run(listed())


def a_row(database_url: str, table: str, path: str, owner: Person, site: str | None) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        if table == "images":
            row = conn.execute(
                "insert into public.images (project_id, filename, file_path)"
                " values (%s, 'a.png', %s) returning id::text",
                (site, path),
            ).fetchone()
        else:
            row = conn.execute(
                "insert into public.media_library (user_id, filename, original_name, file_path,"
                " mime_type, file_type, size_bytes) values (%s, 'a.png', 'a.png', %s,"
                " 'application/pdf', 'pdf', 8) returning id::text",
                (owner.user_id, path),
            ).fetchone()
    assert row is not None
    return str(row[0])


def test_reap_reports_and_fixes_orphan_objects_and_rows_without_objects(
    environment: dict[str, str], own: Own
) -> None:
    db = own.database_url
    alice = a_user(db)
    [site] = sites(db, alice, "Bakery")
    kept, orphan, fresh, queued_path, missing, missing_image = (
        a_path(alice),
        a_path(alice),
        a_path(alice, age_ms=60_000),
        a_path(alice),
        a_path(alice),
        a_path(alice),
    )
    store(environment, kept, orphan, fresh, queued_path)
    a_row(db, "media_library", kept, alice, None)
    missing_id = a_row(db, "media_library", missing, alice, None)
    image_id = a_row(db, "images", missing_image, alice, site)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "insert into public.storage_deletions (kind, file_path) values ('media', %s)",
            (queued_path,),
        )

    found = reap(environment)

    assert (found.exit_code, found.output.splitlines()) == (
        1,
        [
            f"orphan object {orphan}: no row points at it",
            *sorted(
                [
                    f"missing object {missing}: media_library row {missing_id} points at it",
                    f"missing object {missing_image}: images row {image_id} points at it",
                ],
                key=lambda line: "images" in line,
            ),
            "4 objects, 3 rows, 1 queued for deletion, 1 uploaded in the last hour (skipped):"
            " 1 orphan objects, 2 rows without an object",
        ],
    ), found.output
    assert sorted(stored(environment)) == sorted([kept, orphan, fresh, queued_path])

    fixed = reap(environment, "--fix")

    assert (fixed.exit_code, fixed.output.splitlines()) == (
        0,
        [
            f"orphan object {orphan}: no row points at it - deleted from storage",
            f"missing object {missing}: media_library row {missing_id} points at it - row removed",
            f"missing object {missing_image}: images row {image_id} points at it - row removed",
            "4 objects, 3 rows, 1 queued for deletion, 1 uploaded in the last hour (skipped):"
            " 1 orphan objects, 2 rows without an object (fixed)",
        ],
    ), fixed.output
    assert sorted(stored(environment)) == sorted([kept, fresh, queued_path])
    with psycopg.connect(db, autocommit=True) as conn:
        rows = conn.execute(
            "select file_path from public.media_library union all"
            " select file_path from public.images"
        ).fetchall()
    assert [row[0] for row in rows] == [kept]

    again = reap(environment)

    assert (again.exit_code, again.output.splitlines()[-1]) == (
        0,
        "3 objects, 1 rows, 3 queued for deletion, 1 uploaded in the last hour (skipped):"
        " 0 orphan objects, 0 rows without an object",
    )


def test_reap_without_the_service_role_key_says_what_is_missing(
    environment: dict[str, str],
) -> None:
    environment = {**environment, "SUPABASE_SERVICE_ROLE_KEY": ""}
    if environment["DATA_PLANE"] == "postgres" and "MEDIA_DIR" in environment:
        pytest.skip("the postgres plane and the local store need no key")

    result = reap(environment)

    assert result.exit_code == 1
    assert "SUPABASE_SERVICE_ROLE_KEY" in result.output
