"""A site of one's own: create it, read it with its saved work, change it, delete it; nobody else
can tell it exists, bad bodies name their field, and the caches follow every write."""

from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as redis_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg.types.json import Jsonb

from services.projects.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.tenancy import anon_key, mint, tenant_token
from tests.world import Person, a_guest, a_user, bearer, sites

ProjectsClient = AsyncTestClient[Litestar]
SITE_FIELDS = {"id", "name", "category", "description", "thumbnailPath", "createdAt", "updatedAt"}


def site_row(database_url: str, site_id: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url) as conn:
        cursor = conn.execute(
            "select user_id::text, session_id, name, category, description, thumbnail_path"
            " from public.app_projects where id = %s",
            (site_id,),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    columns = ("user_id", "session_id", "name", "category", "description", "thumbnail_path")
    return dict(zip(columns, row, strict=True))


def rows_of(database_url: str, site_id: str) -> dict[str, int]:
    """How many rows hang off the site, per table."""
    tables = ("project_data", "project_files", "company_profiles", "images")
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(
                f"select count(*) from public.{table} where project_id = %s",
                (site_id,),
            ).fetchone()[0]  # type: ignore[index]
            for table in tables
        }


def saved(database_url: str, site_id: str, **columns: Any) -> None:
    values = {
        key: Jsonb(value) if key in ("files", "meta") else value for key, value in columns.items()
    }
    names = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"insert into public.project_data (project_id, {names}) values (%s, {placeholders})",
            (site_id, *values.values()),
        )


# Create ------------------------------------------------------------------------------------------


async def test_a_user_creates_a_site_and_reads_it_back(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    created = await projects.post(
        "/projects",
        json={"name": "Bageriet", "category": "restaurant", "description": "Bröd"},
        headers=bearer(alice),
    )
    read = await projects.get(f"/projects/{created.json()['id']}", headers=bearer(alice))

    assert created.status_code == 201
    site = created.json()
    assert set(site) == SITE_FIELDS
    assert (site["name"], site["category"], site["description"], site["thumbnailPath"]) == (
        "Bageriet",
        "restaurant",
        "Bröd",
        None,
    )
    assert read.status_code == 200
    assert read.json() == {**site, "data": None}
    assert site_row(database_url, site["id"]) == {
        "user_id": alice.user_id,
        "session_id": None,
        "name": "Bageriet",
        "category": "restaurant",
        "description": "Bröd",
        "thumbnail_path": None,
    }


async def test_a_guest_creates_a_site_of_its_own(
    projects: ProjectsClient, database_url: str
) -> None:
    guest = a_guest()

    created = await projects.post("/projects", json={"name": "Min sajt"}, headers=bearer(guest))

    assert created.status_code == 201
    row = site_row(database_url, created.json()["id"])
    assert row is not None
    assert (row["user_id"], row["session_id"]) == (None, guest.session_id)


async def test_a_site_is_read_with_its_saved_work(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bageriet")
    files = [{"name": "app/page.tsx", "content": "export default 1", "locked": False}]
    saved(
        database_url,
        site,
        chat_id="chat_1",
        demo_url="https://demo.example.com",
        current_code="<div/>",
        files=files,
        meta={"theme": "dark"},
    )

    response = await projects.get(f"/projects/{site}", headers=bearer(alice))

    assert response.status_code == 200
    data = response.json()["data"]
    assert {key: value for key, value in data.items() if key != "updatedAt"} == {
        "chatId": "chat_1",
        "demoUrl": "https://demo.example.com",
        "currentCode": "<div/>",
        "files": files,
        "messages": None,
        "meta": {"theme": "dark"},
    }
    assert data["updatedAt"]


# Change ------------------------------------------------------------------------------------------


async def test_a_change_writes_only_the_fields_given(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    created = await projects.post(
        "/projects",
        json={"name": "Bageriet", "category": "restaurant", "description": "Bröd"},
        headers=bearer(alice),
    )
    site = created.json()["id"]

    renamed = await projects.patch(
        f"/projects/{site}",
        json={"name": "Bageriet i Lund", "category": None, "thumbnailPath": "thumbs/1.png"},
        headers=bearer(alice),
    )
    unchanged = await projects.patch(f"/projects/{site}", json={}, headers=bearer(alice))

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Bageriet i Lund"
    assert unchanged.json() == renamed.json()
    assert site_row(database_url, site) == {
        "user_id": alice.user_id,
        "session_id": None,
        "name": "Bageriet i Lund",
        "category": None,
        "description": "Bröd",
        "thumbnail_path": "thumbs/1.png",
    }


# Delete ------------------------------------------------------------------------------------------


async def test_a_deleted_site_is_gone_with_everything_hanging_off_it(
    projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bageriet")
    saved(database_url, site, demo_url="https://demo.example.com")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.project_files (project_id, path) values (%s, 'a.tsx')", (site,)
        )
        conn.execute(
            "insert into public.company_profiles (project_id, company_name) values (%s, 'AB')",
            (site,),
        )
        conn.execute(
            "insert into public.images (project_id, filename, file_path)"
            " values (%s, 'logo.png', %s)",
            (site, f"{alice.user_id}/logo.png"),
        )

    deleted = await projects.delete(f"/projects/{site}", headers=bearer(alice))
    after = await projects.get(f"/projects/{site}", headers=bearer(alice))
    again = await projects.delete(f"/projects/{site}", headers=bearer(alice))

    assert deleted.status_code == 204
    assert (after.status_code, after.json()["code"]) == (404, "project_not_found")
    assert again.status_code == 404
    assert site_row(database_url, site) is None
    assert rows_of(database_url, site) == {
        "project_data": 0,
        "project_files": 0,
        "company_profiles": 0,
        "images": 0,
    }


# Nobody else -------------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "", None),
    ("PATCH", "", {"name": "Stolen"}),
    ("DELETE", "", None),
]


def strangers(database_url: str, owner: Person) -> dict[str, tuple[dict[str, str], int]]:
    """Headers of everyone who is not `owner`, and the status each must get: another user and
    another guest 404, the anon key alone 401, and a token borrowing the owner's identity (a
    user's carrying a guest's claim: 404; the anon role naming a user: 401)."""
    borrowed = (
        tenant_token(JWT_SECRET, a_user(database_url), {"guest_session": owner.session_id})
        if owner.kind == "guest"
        else mint(JWT_SECRET, {"role": "anon", "sub": owner.user_id})
    )
    return {
        "another user": (bearer(a_user(database_url)), 404),
        "another guest": (bearer(a_guest()), 404),
        "the anon key": ({"apikey": anon_key(JWT_SECRET)}, 401),
        "a token borrowing the owner": (bearer(borrowed), 404 if owner.kind == "guest" else 401),
    }


async def answers_of(
    client: ProjectsClient,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    callers: dict[str, tuple[dict[str, str], int]],
) -> dict[str, tuple[int, str]]:
    """What each caller got: (status, code)."""
    answers = {}
    for who, (headers, _expected) in callers.items():
        response = await client.request(method, url, json=body, headers=headers)
        answers[who] = (response.status_code, response.json()["code"])
    return answers


def expected(callers: dict[str, tuple[dict[str, str], int]]) -> dict[str, tuple[int, str]]:
    codes = {404: "project_not_found", 401: "unauthorized"}
    return {who: (status, codes[status]) for who, (_headers, status) in callers.items()}


@pytest.mark.parametrize("owner_kind", ["user", "guest"])
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_nobody_else_can_tell_a_site_exists(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    owner_kind: str,
    projects: ProjectsClient,
    database_url: str,
) -> None:
    owner = a_user(database_url) if owner_kind == "user" else a_guest()
    [site] = sites(database_url, owner, "Bageriet")
    # The owner reads it first, so the site is in the cache when the others come.
    assert (await projects.get(f"/projects/{site}", headers=bearer(owner))).status_code == 200
    before = site_row(database_url, site)
    callers = strangers(database_url, owner)

    answers = await answers_of(projects, method, f"/projects/{site}{path}", body, callers)

    assert answers == expected(callers)
    assert site_row(database_url, site) == before


async def test_a_missing_site_is_the_same_404(projects: ProjectsClient, database_url: str) -> None:
    response = await projects.get(
        "/projects/00000000-0000-4000-8000-000000000000", headers=bearer(a_user(database_url))
    )

    assert (response.status_code, response.json()["code"]) == (404, "project_not_found")


# Bad bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({}, "name"),
        ({"name": "ok", "category": "x" * 101}, "category"),
        ({"name": "ok", "description": "x" * 2001}, "description"),
        ({"name": "ok", "description": ["list"]}, "description"),
        ({"name": "ok", "userId": "00000000-0000-4000-8000-000000000000"}, "userId"),
        ({"name": "ok", "thumbnailPath": "thumbs/1.png"}, "thumbnailPath"),
    ],
)
async def test_a_bad_create_names_the_field(
    body: dict[str, Any], field: str, projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)

    response = await projects.post("/projects", json=body, headers=bearer(alice))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": None}, "name"),
        ({"thumbnailPath": "x" * 1025}, "thumbnailPath"),
        ({"category": 7}, "category"),
        ({"sessionId": "sess_x"}, "sessionId"),
        ({"createdAt": "2020-01-01T00:00:00Z"}, "createdAt"),
    ],
)
async def test_a_bad_change_names_the_field_and_changes_nothing(
    body: dict[str, Any], field: str, projects: ProjectsClient, database_url: str
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bageriet")

    response = await projects.patch(f"/projects/{site}", json=body, headers=bearer(alice))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    row = site_row(database_url, site)
    assert row is not None
    assert row["name"] == "Bageriet"


# Caches ------------------------------------------------------------------------------------------


async def test_a_read_site_is_cached_until_it_changes_or_goes(
    projects: ProjectsClient,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice = a_user(database_url)
    [site] = sites(database_url, alice, "Bageriet")
    meta, listed = (
        f"{key_prefix}project:meta:{site}",
        f"{key_prefix}cache:projects:list:{alice.user_id}",
    )

    await projects.get(f"/projects/{site}", headers=bearer(alice))
    await projects.get("/projects", headers=bearer(alice))
    cached = (await redis_inspector.exists(meta), await redis_inspector.exists(listed))
    await projects.patch(f"/projects/{site}", json={"name": "Nytt"}, headers=bearer(alice))
    after_change = (await redis_inspector.exists(meta), await redis_inspector.exists(listed))
    renamed = await projects.get(f"/projects/{site}", headers=bearer(alice))
    await projects.get("/projects", headers=bearer(alice))
    await projects.delete(f"/projects/{site}", headers=bearer(alice))
    after_delete = (await redis_inspector.exists(meta), await redis_inspector.exists(listed))

    assert cached == (1, 1)
    assert after_change == (0, 0)
    assert renamed.json()["name"] == "Nytt"
    assert after_delete == (0, 0)


async def test_a_create_drops_the_cached_list(
    projects: ProjectsClient,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    guest = a_guest()
    listed = f"{key_prefix}cache:projects:list:{guest.session_id}"
    first = await projects.get("/projects", headers=bearer(guest))
    was_cached = await redis_inspector.exists(listed)

    await projects.post("/projects", json={"name": "Ny"}, headers=bearer(guest))
    after = await redis_inspector.exists(listed)
    second = await projects.get("/projects", headers=bearer(guest))

    assert (first.json()["projects"], was_cached, after) == ([], 1, 0)
    assert [site["name"] for site in second.json()["projects"]] == ["Ny"]


async def test_a_site_claimed_by_a_user_is_found_by_its_new_owner(
    projects: ProjectsClient, database_url: str
) -> None:
    # given a guest's site, cached as the guest's
    guest = a_guest()
    [site] = sites(database_url, guest, "Gästens")
    assert (await projects.get(f"/projects/{site}", headers=bearer(guest))).status_code == 200

    # when the guest signs up and its work is claimed
    user = a_user(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select public.claim_guest_session(%s, %s)", (user.user_id, guest.session_id))

    # then the user reads it, and the guest no longer does
    assert (await projects.get(f"/projects/{site}", headers=bearer(user))).status_code == 200
    assert (await projects.get(f"/projects/{site}", headers=bearer(guest))).status_code == 404


async def test_without_redis_every_site_endpoint_answers_from_the_database(
    projects_settings: Settings, database_url: str
) -> None:
    settings = msgspec.structs.replace(projects_settings, redis_url="redis://127.0.0.1:1/0")
    alice = a_user(database_url)
    async with AsyncTestClient(create_app(settings)) as projects:
        created = await projects.post("/projects", json={"name": "A"}, headers=bearer(alice))
        site = created.json()["id"]
        answers = [
            created,
            await projects.get("/projects", headers=bearer(alice)),
            await projects.get(f"/projects/{site}", headers=bearer(alice)),
            await projects.patch(f"/projects/{site}", json={"name": "B"}, headers=bearer(alice)),
            await projects.put(
                f"/projects/{site}/data", json={"chatId": "c"}, headers=bearer(alice)
            ),
            await projects.get(f"/projects/{site}/files", headers=bearer(alice)),
            await projects.delete(f"/projects/{site}", headers=bearer(alice)),
        ]

    assert [answer.status_code for answer in answers] == [201, 200, 200, 200, 200, 200, 204]
