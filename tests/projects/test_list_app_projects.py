"""GET /projects: the caller's own app projects, newest first, each with its demo URL."""

from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import AsyncTestClient

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
