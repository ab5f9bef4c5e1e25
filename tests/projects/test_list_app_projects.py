"""GET /projects: the caller's own app projects, newest first, each with its demo URL, a page at
a time (`nextCursor` as `before`), the first page cached for its owner."""

import uuid
from typing import Any

import psycopg
import pytest
import redis.asyncio as redis_asyncio
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.projects.sites import Sites
from shared.access import Owner
from shared.cache import Cache
from shared.config import Settings
from shared.kv import Stores
from tests.counting import counting_plane
from tests.world import a_guest, a_user, bearer, sites


async def test_users_see_their_sites_newest_first_with_demo_urls(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    first, _second = sites(database_url, alice, "Bakery", "Barber")
    sites(database_url, bob, "Not Alice's")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.project_data (project_id, demo_url) values (%s, %s)",
            (first, "https://demo.example.com/bakery"),
        )

    response = await projects.get("/projects", headers=bearer(alice))

    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()["projects"]
    assert [(site["name"], site["demoUrl"]) for site in listed] == [
        ("Barber", None),
        ("Bakery", "https://demo.example.com/bakery"),
    ]
    assert set(listed[0]) == {
        "id",
        "name",
        "category",
        "description",
        "thumbnailPath",
        "demoUrl",
        "createdAt",
        "updatedAt",
    }


async def test_guests_see_their_own_sites(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    guest, other_guest = a_guest(), a_guest()
    sites(database_url, guest, "Min sajt")
    sites(database_url, other_guest, "Inte min")

    response = await projects.get("/projects", headers=bearer(guest))

    assert [site["name"] for site in response.json()["projects"]] == ["Min sajt"]


async def test_limit_caps_the_list(projects: AsyncTestClient[Litestar], database_url: str) -> None:
    user = a_user(database_url)
    sites(database_url, user, "a", "b", "c")

    response = await projects.get("/projects", params={"limit": 2}, headers=bearer(user))

    assert [site["name"] for site in response.json()["projects"]] == ["c", "b"]


async def test_a_caller_without_identity_is_told_to_sign_in(
    projects: AsyncTestClient[Litestar],
) -> None:
    response = await projects.get("/projects")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_an_out_of_range_limit_names_the_parameter(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    response = await projects.get(
        "/projects", params={"limit": 0}, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "limit", "in": "query", "message": "Expected `int` >= 1"}
    ]


async def test_a_disabled_users_token_lists_nothing(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    disabled = a_user(database_url, disabled_at="2026-01-01T00:00:00Z")
    sites(database_url, disabled, "Stängd")

    response = await projects.get("/projects", headers=bearer(disabled))

    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"


# Pages -------------------------------------------------------------------------------------------


async def test_pages_follow_each_other_newest_first_to_the_end(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    user = a_user(database_url)
    sites(database_url, user, "a", "b", "c", "d", "e")

    pages, cursor = [], None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 2, **({"before": cursor} if cursor else {})}
        response = await projects.get("/projects", params=params, headers=bearer(user))
        assert response.status_code == 200
        pages.append([site["name"] for site in response.json()["projects"]])
        cursor = response.json()["nextCursor"]
        if cursor is None:
            break

    assert pages == [["e", "d"], ["c", "b"], ["a"]]


async def test_sites_created_at_the_same_moment_are_each_listed_once(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    user = a_user(database_url)
    with psycopg.connect(database_url) as conn:  # one transaction: one now() for all five
        for name in "abcde":
            conn.execute(
                "insert into public.app_projects (user_id, name) values (%s, %s)",
                (user.user_id, name),
            )

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"before": cursor} if cursor else {})}
        body = (await projects.get("/projects", params=params, headers=bearer(user))).json()
        seen += [site["name"] for site in body["projects"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert sorted(seen) == ["a", "b", "c", "d", "e"]


async def test_a_full_last_page_says_there_is_no_more(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    user = a_user(database_url)
    sites(database_url, user, "a", "b")

    response = await projects.get("/projects", params={"limit": 2}, headers=bearer(user))

    assert response.json()["nextCursor"] is None


async def test_a_cursor_of_another_tenant_shows_only_the_callers_sites(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    sites(database_url, alice, "a1", "a2", "a3")
    sites(database_url, bob, "b1")
    first = await projects.get("/projects", params={"limit": 1}, headers=bearer(alice))

    response = await projects.get(
        "/projects", params={"before": first.json()["nextCursor"]}, headers=bearer(bob)
    )

    assert response.status_code == 200
    assert not {site["name"] for site in response.json()["projects"]} & {"a1", "a2", "a3"}


@pytest.mark.parametrize("cursor", ["not-a-cursor", "e30", "a" * 201, "äö"])
async def test_a_cursor_that_is_not_one_names_the_parameter(
    cursor: str, projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    response = await projects.get(
        "/projects", params={"before": cursor}, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["before"]


async def test_the_first_page_is_cached_for_its_owner_only(
    projects: AsyncTestClient[Litestar],
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice, guest = a_user(database_url), a_guest()
    sites(database_url, alice, "a", "b", "c")
    sites(database_url, guest, "g")

    first = await projects.get("/projects", params={"limit": 2}, headers=bearer(alice))
    cached = await redis_inspector.exists(f"{key_prefix}cache:projects:list:{alice.user_id}")
    later = await projects.get(
        "/projects", params={"before": first.json()["nextCursor"]}, headers=bearer(alice)
    )
    guests = await projects.get("/projects", headers=bearer(guest))
    all_of_alice = await projects.get("/projects", params={"limit": 3}, headers=bearer(alice))

    assert cached == 1
    assert [site["name"] for site in first.json()["projects"]] == ["c", "b"]
    assert [site["name"] for site in later.json()["projects"]] == ["a"]
    assert [site["name"] for site in guests.json()["projects"]] == ["g"]
    assert [site["name"] for site in all_of_alice.json()["projects"]] == ["c", "b", "a"]
    assert all_of_alice.json()["nextCursor"] is None


async def test_a_page_of_sites_with_their_demo_urls_is_one_query(
    projects_settings: Settings, database_url: str
) -> None:
    alice = a_user(database_url)
    listed = sites(database_url, alice, *(f"Site {n}" for n in range(3)))
    with psycopg.connect(database_url, autocommit=True) as conn:
        for site in listed:
            conn.execute(
                "insert into public.project_data (project_id, demo_url) values (%s, %s)",
                (site, f"https://{site}.vusercontent.net"),
            )
    owner = Owner(user_id=uuid.UUID(alice.user_id), guest_session=None, caller=alice.caller)

    async with counting_plane(projects_settings) as plane:
        # No cache store: every page comes from the database.
        uncached = Sites(plane, Cache(Stores(cache=None, sessions=None, limiter=None)))
        first = await uncached.page(owner, 2, None)
        second = await uncached.page(owner, 2, first.next_cursor)

    assert len(plane.queries) == 2
    assert [site.demo_url for site in first.projects + second.projects] == [
        f"https://{site}.vusercontent.net" for site in listed[::-1]
    ]
