"""The SQL behind sites: the site limit (a trigger on client inserts), the page and save functions
(as the caller, under row-level security), and media's storage_deletions outbox filled when
images go; called as PostgREST calls them and through real PostgREST with every kind of token."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.conftest import JWT_SECRET
from tests.schema.data_api import COMMITTED, Db, as_client, executors
from tests.tenancy import anon_key, mint, service_role_key
from tests.world import Person, a_guest, a_user, sites

EXECUTORS = {
    "public.app_projects_page(integer, timestamp with time zone, uuid)": {
        "anon",
        "authenticated",
        "service_role",
    },
    "public.save_project_data(uuid, jsonb)": {"anon", "authenticated", "service_role"},
    "private.app_project_limit(uuid)": set(),
    "private.app_projects_within_limit()": set(),
    "private.queue_image_storage_deletions()": set(),
}


def as_person(db: Db, who: Person) -> None:
    """Take on the person's role and claims for the current transaction, as PostgREST does."""
    claims = who.caller.claims
    db.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        (claims["role"], json.dumps(claims)),
    )


def save(db: Db, who: Person, site: str, changes: Any) -> list[dict[str, Any]]:
    with db.transaction():
        as_person(db, who)
        return db.execute(
            "select * from public.save_project_data(%s, %s)", (site, Jsonb(changes))
        ).fetchall()


def saved(db: Db, site: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    data = db.execute("select * from public.project_data where project_id = %s", (site,))
    files = db.execute(
        "select * from public.project_files where project_id = %s order by path", (site,)
    )
    return data.fetchone(), files.fetchall()


def count_sites(db: Db, who: Person) -> int:
    row = db.execute(
        "select count(*) as n from public.app_projects"
        " where user_id is not distinct from %s and session_id is not distinct from %s",
        (who.user_id, who.session_id),
    ).fetchone()
    assert row is not None
    return int(row["n"])


# Who may call what -------------------------------------------------------------------------------


def test_every_site_function_is_executable_by_exactly_its_callers(db: Db) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


# The site limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "limit"), [("free", 10), ("pro", 100), ("admin", 100), ("guest", 3)]
)
def test_a_client_inserting_beyond_its_limit_through_postgrest_is_refused(
    kind: str, limit: int, database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_guest() if kind == "guest" else a_user(database_url, tier=kind)
    sites(database_url, owner, *(f"Site {n}" for n in range(limit)))

    response = http.post(
        "/app_projects", json={"name": "One more"}, headers=as_client(owner.token, COMMITTED)
    )

    assert response.status_code == 409
    assert response.json()["message"] == "project_limit_reached"
    assert count_sites(db, owner) == limit


def test_a_client_under_its_limit_inserts_through_postgrest(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    sites(database_url, owner, *(f"Site {n}" for n in range(9)))

    response = http.post(
        "/app_projects", json={"name": "Tenth"}, headers=as_client(owner.token, COMMITTED)
    )

    assert response.status_code == 201
    assert count_sites(db, owner) == 10


def test_the_service_role_and_the_database_owner_are_not_limited(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_guest()
    sites(database_url, owner, "A", "B", "C")

    by_service = http.post(
        "/app_projects",
        json={"name": "Seeded", "session_id": owner.session_id},
        headers=as_client(service_role_key(JWT_SECRET), COMMITTED),
    )
    sites(database_url, owner, "By the owner")

    assert by_service.status_code == 201
    assert count_sites(db, owner) == 5


def test_a_row_naming_a_full_tenant_is_refused_without_telling_about_its_limit(
    database_url: str, http: httpx.Client
) -> None:
    # given a victim at its limit
    victim = a_guest()
    sites(database_url, victim, "A", "B", "C")

    # when someone else inserts a site naming the victim
    response = http.post(
        "/app_projects",
        json={"name": "Planted", "session_id": victim.session_id},
        headers=as_client(a_guest().token, COMMITTED),
    )

    # then row-level security refuses it, as for any victim
    assert response.status_code in (401, 403)
    assert "project_limit_reached" not in response.text


def test_parallel_inserts_through_postgrest_stop_at_the_limit(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    sites(database_url, owner, *(f"Site {n}" for n in range(5)))

    def insert(n: int) -> int:
        response = http.post(
            "/app_projects", json={"name": f"New {n}"}, headers=as_client(owner.token, COMMITTED)
        )
        return response.status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(insert, range(20)))

    assert sorted(statuses) == [201] * 5 + [409] * 15
    assert count_sites(db, owner) == 10


# Pages -------------------------------------------------------------------------------------------


def test_each_client_pages_through_its_own_sites_only(
    database_url: str, http: httpx.Client
) -> None:
    alice, guest = a_user(database_url), a_guest()
    sites(database_url, alice, "a1", "a2")
    sites(database_url, guest, "g1")

    def names(token: str) -> list[str]:
        response = http.post(
            "/rpc/app_projects_page", json={"p_limit": 10}, headers=as_client(token, COMMITTED)
        )
        assert response.status_code == 200, response.text
        return [row["name"] for row in response.json()]

    assert names(alice.token) == ["a2", "a1"]
    assert names(guest.token) == ["g1"]
    assert names(anon_key(JWT_SECRET)) == []
    assert names(mint(JWT_SECRET, {"role": "anon", "sub": alice.user_id})) == []


def test_each_client_sees_the_demo_urls_of_its_own_saves_only(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    alice, bob, guest = a_user(database_url), a_user(database_url), a_guest()
    [alices] = sites(database_url, alice, "a1")
    [bobs] = sites(database_url, bob, "b1")
    [guests] = sites(database_url, guest, "g1")
    for owner, site in ((alice, alices), (bob, bobs), (guest, guests)):
        save(db, owner, site, {"demo_url": f"https://{site}.vusercontent.net"})

    def demo_urls(token: str) -> list[tuple[str, str | None]]:
        response = http.post(
            "/rpc/app_projects_page", json={"p_limit": 10}, headers=as_client(token, COMMITTED)
        )
        assert response.status_code == 200, response.text
        return [(row["id"], row["demo_url"]) for row in response.json()]

    assert demo_urls(alice.token) == [(alices, f"https://{alices}.vusercontent.net")]
    assert demo_urls(guest.token) == [(guests, f"https://{guests}.vusercontent.net")]
    assert demo_urls(anon_key(JWT_SECRET)) == []


def test_a_page_reads_saves_by_their_key_not_every_tenants(database_url: str, db: Db) -> None:
    # Enough of another tenant's saves that reading them all would be the planner's choice if
    # it had one (row-level security on project_data once kept a join off its primary key).
    crowd = a_user(database_url)
    db.execute(
        "insert into public.app_projects (user_id, name)"
        " select %s, 'crowd ' || n from generate_series(1, 2000) as n",
        (crowd.user_id,),
    )
    db.execute(
        "insert into public.project_data (project_id)"
        " select id from public.app_projects where user_id = %s",
        (crowd.user_id,),
    )
    db.execute("analyze public.project_data")
    owner = a_user(database_url)
    sites(database_url, owner, "a1", "a2")

    plan = page_plan(db, owner)

    assert "project_data_pkey" in plan, plan
    assert "Seq Scan on project_data" not in plan, plan


def page_plan(db: Db, owner: Person) -> str:
    """The plan of app_projects_page's own query for a first page, as `owner` runs it."""
    [function] = db.execute(
        "select prosrc from pg_proc where oid = 'public.app_projects_page'::regproc"
    ).fetchall()
    first_page = (
        function["prosrc"]
        .replace("p_before_created_at", "null::timestamptz")
        .replace("p_before_id", "null::uuid")
        .replace("p_limit", "10")
    )
    with db.transaction():
        as_person(db, owner)
        rows = db.execute(sql.SQL("explain (costs off) {}").format(sql.SQL(first_page))).fetchall()
    return "\n".join(row["QUERY PLAN"] for row in rows)


# Saves -------------------------------------------------------------------------------------------


def test_a_save_writes_the_given_keys_merges_meta_and_replaces_the_files(
    database_url: str, db: Db
) -> None:
    owner = a_user(database_url)
    [site] = sites(database_url, owner, "Bageriet")

    save(
        db,
        owner,
        site,
        {
            "chat_id": "c1",
            "meta": {"a": 1, "b": 1},
            "files": [{"name": "x.tsx", "content": "åå"}, {"name": "y.tsx", "content": "y"}],
        },
    )
    [row] = save(db, owner, site, {"demo_url": "https://d", "meta": {"b": 2}, "files": []})
    save(db, owner, site, {"files": [{"name": "z.tsx", "content": "zz", "locked": True}]})

    data, files = saved(db, site)
    assert (row["chat_id"], row["demo_url"], row["meta"]) == ("c1", "https://d", {"a": 1, "b": 2})
    assert data is not None
    assert data["files"] == [{"name": "z.tsx", "content": "zz", "locked": True}]
    assert [(f["path"], f["size_bytes"]) for f in files] == [("z.tsx", 2)]


@pytest.mark.parametrize(
    "files",
    [
        [{"name": "ok.tsx", "content": "1"}, {"name": "x" * 1025, "content": "2"}],
        [{"name": "a.tsx", "content": "1"}, {"name": "a.tsx", "content": "2"}],
        [{"name": "ok.tsx", "content": "1"}, {"content": "no name"}],
    ],
    ids=["a path over 1024 characters", "a name twice", "no name"],
)
def test_a_save_whose_file_row_breaks_a_constraint_leaves_the_previous_save_whole(
    files: list[dict[str, Any]], database_url: str, db: Db
) -> None:
    owner = a_guest()
    [site] = sites(database_url, owner, "Bageriet")
    save(db, owner, site, {"chat_id": "c1", "files": [{"name": "keep.tsx", "content": "k"}]})
    before = saved(db, site)

    with pytest.raises(psycopg.errors.IntegrityError):
        save(db, owner, site, {"chat_id": "c2", "meta": {"x": 1}, "files": files})

    assert saved(db, site) == before


@pytest.mark.parametrize("client", ["another user", "another guest", "the anon key"])
def test_no_client_saves_to_a_site_it_does_not_own_through_postgrest(
    client: str, database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    [site] = sites(database_url, owner, "Bageriet")
    save(db, owner, site, {"chat_id": "c1", "files": [{"name": "keep.tsx", "content": "k"}]})
    before = saved(db, site)
    token = {
        "another user": lambda: a_user(database_url).token,
        "another guest": lambda: a_guest().token,
        "the anon key": lambda: anon_key(JWT_SECRET),
    }[client]()

    response = http.post(
        "/rpc/save_project_data",
        json={"p_project_id": site, "p_changes": {"chat_id": "stolen", "files": []}},
        headers=as_client(token, COMMITTED),
    )

    assert response.status_code == 200
    assert response.json() == []
    assert saved(db, site) == before


def test_a_save_that_is_not_an_object_is_refused(database_url: str, db: Db) -> None:
    owner = a_user(database_url)
    [site] = sites(database_url, owner, "Bageriet")

    with pytest.raises(psycopg.errors.InvalidParameterValue):
        save(db, owner, site, ["not", "an", "object"])


# storage_deletions -------------------------------------------------------------------------------


def queued(db: Db, *paths: str) -> list[tuple[str, str, int, Any]]:
    rows = db.execute(
        "select kind, file_path, attempts, leased_until from public.storage_deletions"
        " where file_path = any(%s) order by file_path",
        (list(paths),),
    ).fetchall()
    return [(r["kind"], r["file_path"], r["attempts"], r["leased_until"]) for r in rows]


def images(database_url: str, site: str, *paths: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for path in paths:
            conn.execute(
                "insert into public.images (project_id, filename, file_path)"
                " values (%s, 'f.png', %s)",
                (site, path),
            )


def test_deleting_a_site_queues_one_deletion_per_stored_image(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    [site, other] = sites(database_url, owner, "Bageriet", "Kept")
    prefix = f"{owner.user_id}/{uuid.uuid4()}"
    paths = (f"{prefix}/logo.png", f"{prefix}/hero.png")
    images(database_url, site, *paths)
    images(database_url, other, f"{prefix}/kept.png")

    response = http.delete(
        "/app_projects", params={"id": f"eq.{site}"}, headers=as_client(owner.token, COMMITTED)
    )

    assert response.status_code in (200, 204)
    assert queued(db, *paths, f"{prefix}/kept.png") == [
        ("image", paths[1], 0, None),
        ("image", paths[0], 0, None),
    ]


def test_deleting_one_image_queues_its_object(
    database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    [site] = sites(database_url, owner, "Bageriet")
    path = f"{owner.user_id}/{uuid.uuid4()}/logo.png"
    images(database_url, site, path)

    http.delete(
        "/images", params={"file_path": f"eq.{path}"}, headers=as_client(owner.token, COMMITTED)
    )

    assert queued(db, path) == [("image", path, 0, None)]


@pytest.mark.parametrize(
    "token",
    [
        lambda: anon_key(JWT_SECRET),
        lambda: a_guest().token,
        lambda: Person("someone", "user", user_id=str(uuid.uuid4())).token,
    ],
    ids=["anon key", "guest", "user"],
)
def test_no_client_reads_or_writes_the_storage_deletions(
    token: Any, database_url: str, db: Db, http: httpx.Client
) -> None:
    owner = a_user(database_url)
    [site] = sites(database_url, owner, "Bageriet")
    path = f"{owner.user_id}/{uuid.uuid4()}/logo.png"
    images(database_url, site, path)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from public.images where file_path = %s", (path,))
    headers = as_client(token(), "return=minimal,tx=rollback")

    answers = [
        http.get("/storage_deletions", headers=headers),
        http.post("/storage_deletions", json={"kind": "image", "file_path": "x"}, headers=headers),
        http.patch(
            "/storage_deletions",
            params={"file_path": f"eq.{path}"},
            json={"attempts": 9},
            headers=headers,
        ),
        http.delete("/storage_deletions", params={"file_path": f"eq.{path}"}, headers=headers),
    ]

    assert all(answer.status_code in (401, 403) for answer in answers), answers
    assert queued(db, path) == [("image", path, 0, None)]
