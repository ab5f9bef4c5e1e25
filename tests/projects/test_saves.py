"""Saving a site's work: only the fields given change, meta is merged, files replace the file list,
a save that fails leaves the previous one whole, and nobody else can save or read the files."""

import asyncio
from typing import Any

import psycopg
import pytest
import redis.asyncio as redis_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg.rows import dict_row

from services.projects.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.serving import serving
from tests.tenancy import anon_key, tenant_token
from tests.world import Person, a_guest, a_user, bearer, sites

ProjectsClient = AsyncTestClient[Litestar]


def saved_rows(database_url: str, site: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The site's project_data row (every column) and its project_files rows, by path."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        data = conn.execute(
            "select * from public.project_data where project_id = %s", (site,)
        ).fetchone()
        files = conn.execute(
            "select id, path, size_bytes, created_at from public.project_files"
            " where project_id = %s order by path",
            (site,),
        ).fetchall()
    return data, files


def a_site(database_url: str, kind: str = "user") -> tuple[Person, str]:
    owner = a_user(database_url) if kind == "user" else a_guest()
    [site] = sites(database_url, owner, "Bageriet")
    return owner, site


FIRST_SAVE = {
    "chatId": "chat_1",
    "currentCode": "<main/>",
    "files": [
        {"name": "app/page.tsx", "content": "export default function Page() {}"},
        {"name": "app/layout.tsx", "content": "åäö", "locked": True},
    ],
    "messages": [{"role": "user", "content": "Ett bageri"}],
    "meta": {"theme": "dark", "font": "serif"},
}


@pytest.mark.parametrize("kind", ["user", "guest"])
async def test_a_save_writes_only_the_fields_given_and_merges_meta(
    kind: str, projects: ProjectsClient, database_url: str
) -> None:
    owner, site = a_site(database_url, kind)

    first = await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))
    second = await projects.put(
        f"/projects/{site}/data",
        json={"demoUrl": "https://demo.example.com", "meta": {"theme": "light", "logo": "x.png"}},
        headers=bearer(owner),
    )
    read = await projects.get(f"/projects/{site}", headers=bearer(owner))

    assert (first.status_code, second.status_code) == (200, 200)
    expected = {
        "chatId": "chat_1",
        "demoUrl": "https://demo.example.com",
        "currentCode": "<main/>",
        "files": [
            {
                "name": "app/page.tsx",
                "content": "export default function Page() {}",
                "locked": False,
            },
            {"name": "app/layout.tsx", "content": "åäö", "locked": True},
        ],
        "messages": [{"role": "user", "content": "Ett bageri"}],
        "meta": {"theme": "light", "font": "serif", "logo": "x.png"},
    }
    assert {k: v for k, v in second.json().items() if k != "updatedAt"} == expected
    assert read.json()["data"] == second.json()


async def test_files_replace_the_file_list_sorted_by_path_with_sizes_in_bytes(
    projects: ProjectsClient, database_url: str
) -> None:
    owner, site = a_site(database_url)
    await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))
    listed_first = await projects.get(f"/projects/{site}/files", headers=bearer(owner))

    await projects.put(
        f"/projects/{site}/data",
        json={"files": [{"name": "components/hero.tsx", "content": "1234"}]},
        headers=bearer(owner),
    )
    listed_after = await projects.get(f"/projects/{site}/files", headers=bearer(owner))

    assert listed_first.status_code == 200
    assert listed_first.json() == {
        "files": [
            {"path": "app/layout.tsx", "sizeBytes": 6},
            {"path": "app/page.tsx", "sizeBytes": 33},
        ]
    }
    assert listed_after.json() == {"files": [{"path": "components/hero.tsx", "sizeBytes": 4}]}


async def test_saves_of_one_site_at_once_all_succeed_and_the_last_one_stands(
    projects_settings: Settings, database_url: str
) -> None:
    # given a site, and ten saves of the same file names with different contents
    owner, site = a_site(database_url)
    bodies = [
        {"files": [{"name": f"app/{part}.tsx", "content": "x" * run} for part in ("a", "b")]}
        for run in range(1, 11)
    ]

    # when they are sent at once
    async with serving(create_app(projects_settings)) as projects:
        responses = await asyncio.gather(
            *(
                projects.put(f"/projects/{site}/data", json=body, headers=bearer(owner))
                for body in bodies
            )
        )

    # then each waits for the one before it, and the file list is one whole save's
    assert [response.status_code for response in responses] == [200] * 10
    data, files = saved_rows(database_url, site)
    assert data is not None
    [size] = {row["size_bytes"] for row in files}
    assert [row["path"] for row in files] == ["app/a.tsx", "app/b.tsx"]
    assert [file["content"] for file in data["files"]] == ["x" * size] * 2


async def test_null_clears_a_field_and_an_empty_file_list_clears_the_files(
    projects: ProjectsClient, database_url: str
) -> None:
    owner, site = a_site(database_url)
    await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))

    cleared = await projects.put(
        f"/projects/{site}/data", json={"chatId": None, "files": []}, headers=bearer(owner)
    )

    assert (cleared.json()["chatId"], cleared.json()["files"]) == (None, [])
    assert cleared.json()["currentCode"] == "<main/>"
    assert saved_rows(database_url, site)[1] == []


@pytest.mark.parametrize(
    "files",
    [
        [{"name": "a.tsx", "content": "1"}, {"name": "a.tsx", "content": "2"}],
        [{"name": "b.tsx", "content": "1"}, {"name": "b.tsx", "content": "1"}],
    ],
    ids=["a name twice", "a file twice"],
)
async def test_a_save_that_fails_leaves_the_previous_save_exactly_as_it_was(
    files: list[dict[str, Any]], projects: ProjectsClient, database_url: str
) -> None:
    owner, site = a_site(database_url)
    await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))
    before = saved_rows(database_url, site)

    failed = await projects.put(
        f"/projects/{site}/data",
        json={"chatId": "chat_2", "meta": {"theme": "x"}, "files": files},
        headers=bearer(owner),
    )

    assert failed.status_code == 422
    assert failed.json()["errors"] == [
        {"field": "files", "in": "body", "message": "File names must be unique"}
    ]
    assert saved_rows(database_url, site) == before


# Nobody else -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["user", "guest"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("PUT", "data", {"chatId": "stolen", "files": []}), ("GET", "files", None)],
    ids=["save", "files"],
)
async def test_nobody_else_saves_or_reads_a_sites_files(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    kind: str,
    projects: ProjectsClient,
    database_url: str,
) -> None:
    owner, site = a_site(database_url, kind)
    await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))
    # Cached for the owner before anyone else asks.
    assert (await projects.get(f"/projects/{site}/files", headers=bearer(owner))).status_code == 200
    before = saved_rows(database_url, site)
    borrowing = (
        tenant_token(JWT_SECRET, a_user(database_url), {"guest_session": owner.session_id})
        if kind == "guest"
        else a_user(database_url).token
    )
    callers = {
        "another user": bearer(a_user(database_url)),
        "another guest": bearer(a_guest()),
        "a token borrowing the owner": bearer(borrowing),
        "the anon key": {"apikey": anon_key(JWT_SECRET)},
    }

    answers = {}
    for who, headers in callers.items():
        response = await projects.request(
            method, f"/projects/{site}/{path}", json=body, headers=headers
        )
        answers[who] = (response.status_code, response.json()["code"])

    assert answers == {
        "another user": (404, "project_not_found"),
        "another guest": (404, "project_not_found"),
        "a token borrowing the owner": (404, "project_not_found"),
        "the anon key": (401, "unauthorized"),
    }
    assert saved_rows(database_url, site) == before


# Bad bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chatId": "x" * 101}, "chatId"),
        ({"chatId": 12}, "chatId"),
        ({"demoUrl": "x" * 2049}, "demoUrl"),
        ({"files": "app/page.tsx"}, "files"),
        ({"files": [{"name": "x" * 1025, "content": ""}]}, "files[0].name"),
        ({"files": [{"name": "", "content": ""}]}, "files[0].name"),
        # msgspec names the object a field is missing from or unknown in (its message names it)
        ({"files": [{"name": "a.tsx"}]}, "files[0]"),
        ({"files": [{"name": "a.tsx", "content": "", "owner": "me"}]}, "files[0]"),
        ({"messages": "hello"}, "messages"),
        ({"meta": ["not", "an", "object"]}, "meta"),
        ({"meta": None}, "meta"),
        ({"projectId": "00000000-0000-4000-8000-000000000000"}, "projectId"),
    ],
)
async def test_a_bad_save_names_the_field_and_saves_nothing(
    body: dict[str, Any], field: str, projects: ProjectsClient, database_url: str
) -> None:
    owner, site = a_site(database_url)

    response = await projects.put(f"/projects/{site}/data", json=body, headers=bearer(owner))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert saved_rows(database_url, site) == (None, [])


async def test_a_value_sql_finds_too_large_names_its_field_and_saves_nothing(
    projects: ProjectsClient, database_url: str
) -> None:
    # meta is limited to 1 MiB in SQL only
    owner, site = a_site(database_url)
    await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))
    before = saved_rows(database_url, site)

    response = await projects.put(
        f"/projects/{site}/data",
        json={"files": [], "meta": {"notes": "x" * 1_100_000}},
        headers=bearer(owner),
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["meta"]
    assert saved_rows(database_url, site) == before


# Caches ------------------------------------------------------------------------------------------


async def test_the_file_list_is_cached_until_a_save_gives_files(
    projects: ProjectsClient,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    owner, site = a_site(database_url)
    files_key = f"{key_prefix}project:files:{site}"
    list_key = f"{key_prefix}cache:projects:list:{owner.user_id}"
    await projects.put(f"/projects/{site}/data", json=FIRST_SAVE, headers=bearer(owner))
    await projects.get(f"/projects/{site}/files", headers=bearer(owner))
    await projects.get("/projects", headers=bearer(owner))
    cached = (await redis_inspector.exists(files_key), await redis_inspector.exists(list_key))

    await projects.put(f"/projects/{site}/data", json={"chatId": "c2"}, headers=bearer(owner))
    without_files = (
        await redis_inspector.exists(files_key),
        await redis_inspector.exists(list_key),
    )
    await projects.put(
        f"/projects/{site}/data",
        json={"files": [{"name": "new.tsx", "content": ""}]},
        headers=bearer(owner),
    )
    with_files = await redis_inspector.exists(files_key)
    listed = await projects.get(f"/projects/{site}/files", headers=bearer(owner))

    assert cached == (1, 1)
    assert without_files == (1, 0)
    assert with_files == 0
    assert listed.json() == {"files": [{"path": "new.tsx", "sizeBytes": 0}]}


async def test_a_save_shows_its_demo_url_in_the_list(
    projects: ProjectsClient, database_url: str
) -> None:
    owner, site = a_site(database_url, "guest")
    await projects.get("/projects", headers=bearer(owner))

    await projects.put(
        f"/projects/{site}/data",
        json={"demoUrl": "https://demo.example.com"},
        headers=bearer(owner),
    )
    listed = await projects.get("/projects", headers=bearer(owner))

    assert [p["demoUrl"] for p in listed.json()["projects"]] == ["https://demo.example.com"]
