"""The SQL of library deletes through real PostgREST, as clients with the anon key and their own
tokens would attack it: who may call what; no client leases the deletion queue or reads it; a
user's delete queues only their own rows' objects in their own folder; a row naming another
user's object, deleted again, never gets that object removed while its owner's row names it; the
library page shows only the caller's rows, whatever cursor is given."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import JWT_SECRET
from tests.schema.data_api import COMMITTED, Db, as_client, executors
from tests.tenancy import anon_key, service_role_key
from tests.world import Person, a_guest, a_user, sites

EXECUTORS = {
    "public.lease_storage_deletions(integer, integer)": {"service_role"},
    "public.media_library_page(text, uuid, integer)": {"authenticated", "service_role"},
    "private.queue_media_storage_deletions()": set(),
}


@pytest.fixture
def db(database_url: str) -> Iterator[Db]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="module")
def http(postgrest_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=postgrest_url, timeout=30) as client:
        yield client


def an_item(db: Db, owner: Person, path: str | None = None, project: str | None = None) -> str:
    path = path or f"{owner.user_id}/images/{uuid.uuid4().hex}.png"
    row = db.execute(
        "insert into public.media_library (user_id, filename, original_name, file_path,"
        " mime_type, file_type, size_bytes, project_id)"
        " values (%s, 'a.png', 'a.png', %s, 'application/pdf', 'pdf', 1, %s)"
        " returning id::text as id",
        (owner.user_id, path, project),
    ).fetchone()
    assert row is not None
    return str(row["id"])


def path_of(db: Db, item: str) -> str:
    row = db.execute("select file_path from public.media_library where id = %s", (item,)).fetchone()
    assert row is not None
    return str(row["file_path"])


def queued(db: Db, path: str) -> int:
    row = db.execute(
        "select count(*) as n from public.storage_deletions where file_path = %s", (path,)
    ).fetchone()
    assert row is not None
    return int(row["n"])


def lease_all(http: httpx.Client) -> list[dict[str, Any]]:
    """What the service role's worker is handed (everything due, other tests' rows included)."""
    response = http.post(
        "/rpc/lease_storage_deletions",
        json={"p_limit": 1000, "p_lease_seconds": 1},
        headers=as_client(service_role_key(JWT_SECRET), COMMITTED),
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_only_the_service_role_leases_and_only_users_page_their_library(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


@pytest.mark.parametrize(
    "token",
    [lambda: anon_key(JWT_SECRET), lambda: a_guest().token, lambda: None],
    ids=["anon key", "guest", "user"],
)
def test_no_client_leases_the_deletion_queue(
    token: Any, database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    item = an_item(db, owner)
    path = path_of(db, item)
    db.execute("delete from public.media_library where id = %s", (item,))
    bearer_token = token() or owner.token

    answer = http.post(
        "/rpc/lease_storage_deletions",
        json={"p_limit": 10},
        headers=as_client(bearer_token, COMMITTED),
    )

    assert answer.status_code in (401, 403, 404), answer.text
    row = db.execute(
        "select attempts, leased_until from public.storage_deletions where file_path = %s",
        (path,),
    ).fetchone()
    assert row == {"attempts": 0, "leased_until": None}


def test_a_users_delete_through_the_data_api_queues_their_object_and_no_one_elses(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    alices = an_item(db, alice)
    malloys = an_item(db, mallory)

    theirs = http.delete(
        "/media_library", params={"id": f"eq.{alices}"}, headers=as_client(mallory.token, COMMITTED)
    )
    own = http.delete(
        "/media_library",
        params={"id": f"eq.{malloys}"},
        headers=as_client(mallory.token, COMMITTED),
    )

    assert (theirs.status_code, theirs.json()) == (200, [])
    assert (own.status_code, len(own.json())) == (200, 1)
    assert queued(db, path_of(db, alices)) == 0
    assert (
        db.execute("select 1 from public.media_library where id = %s", (malloys,)).fetchone()
        is None
    )


def test_a_row_naming_another_users_object_never_gets_it_removed(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    [malloys_site] = sites(database_url, mallory, "Decoy")
    alices = an_item(db, alice)
    target = path_of(db, alices)
    headers = as_client(mallory.token, COMMITTED)

    # Mallory may write any path into rows of her own (the columns are granted) ...
    library_row = http.post(
        "/media_library",
        json={
            "filename": "x.png",
            "original_name": "x.png",
            "file_path": target,
            "mime_type": "application/pdf",
            "file_type": "pdf",
            "size_bytes": 1,
        },
        headers=headers,
    )
    image_row = http.post(
        "/images",
        json={"project_id": malloys_site, "filename": "x.png", "file_path": target},
        headers=headers,
    )
    assert (library_row.status_code, image_row.status_code) == (201, 201), (
        library_row.text,
        image_row.text,
    )
    # ... and delete them again.
    for table, row in (("media_library", library_row), ("images", image_row)):
        deleted = http.delete(
            f"/{table}", params={"id": f"eq.{row.json()[0]['id']}"}, headers=headers
        )
        assert deleted.status_code == 200

    # Her library row's delete queues nothing outside her folder; her image's does, but the
    # worker is never handed a path alice's row still names: the queue row is dropped.
    leased = lease_all(http)

    assert target not in {row["file_path"] for row in leased}
    assert queued(db, target) == 0
    assert path_of(db, alices) == target


def test_the_library_page_shows_only_the_callers_rows_whatever_the_cursor(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    alices = an_item(db, alice)
    malloys = an_item(db, mallory)

    def page(who: Person, **args: Any) -> list[str]:
        response = http.post("/rpc/media_library_page", json=args, headers=as_client(who.token))
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()]

    assert page(mallory) == [malloys]
    assert page(mallory, p_before=alices) == []
    assert page(mallory, p_file_type="pdf", p_limit=1000) == [malloys]
    anonymous = http.post(
        "/rpc/media_library_page", json={}, headers=as_client(anon_key(JWT_SECRET))
    )
    assert anonymous.status_code in (401, 403)
