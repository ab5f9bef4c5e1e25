"""GET /projects: the caller's own app projects, newest first, each with its demo URL."""

import uuid
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import JWT_SECRET
from tests.tenancy import Tenant, tenant_token


def add_sites(database_url: str, owner: Tenant, *names: str) -> list[str]:
    """Sites created oldest first, as the database owner; returns their ids."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if owner.user_id:
            conn.execute(
                "insert into public.users (id, email) values (%s, %s) on conflict do nothing",
                (owner.user_id, f"{owner.user_id}@example.com"),
            )
        return [
            str(
                conn.execute(
                    "insert into public.app_projects (user_id, session_id, name, created_at)"
                    " values (%s, %s, %s, now() - %s * interval '1 minute') returning id",
                    (owner.user_id, owner.session_id, name, len(names) - position),
                ).fetchone()[0]  # type: ignore[index]
            )
            for position, name in enumerate(names)
        ]


def new_user() -> Tenant:
    return Tenant("user", "user", user_id=str(uuid.uuid4()))


def new_guest() -> Tenant:
    return Tenant("guest", "guest", session_id=f"sess_{uuid.uuid4()}")


def as_(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant_token(JWT_SECRET, tenant)}"}


async def test_users_see_their_sites_newest_first_with_demo_urls(
    projects: AsyncTestClient[Litestar], database_url: str
) -> None:
    alice, bob = new_user(), new_user()
    first, _second = add_sites(database_url, alice, "Bakery", "Barber")
    add_sites(database_url, bob, "Not Alice's")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.project_data (project_id, demo_url) values (%s, %s)",
            (first, "https://demo.example.com/bakery"),
        )

    response = await projects.get("/projects", headers=as_(alice))

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
    guest, other_guest = new_guest(), new_guest()
    add_sites(database_url, guest, "Min sajt")
    add_sites(database_url, other_guest, "Inte min")

    response = await projects.get("/projects", headers=as_(guest))

    assert [site["name"] for site in response.json()["projects"]] == ["Min sajt"]


async def test_limit_caps_the_list(projects: AsyncTestClient[Litestar], database_url: str) -> None:
    user = new_user()
    add_sites(database_url, user, "a", "b", "c")

    response = await projects.get("/projects", params={"limit": 2}, headers=as_(user))

    assert [site["name"] for site in response.json()["projects"]] == ["c", "b"]


async def test_a_caller_without_identity_is_told_to_sign_in(
    projects: AsyncTestClient[Litestar],
) -> None:
    response = await projects.get("/projects")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_an_out_of_range_limit_names_the_parameter(
    projects: AsyncTestClient[Litestar],
) -> None:
    response = await projects.get("/projects", params={"limit": 0}, headers=as_(new_user()))

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "limit", "in": "query", "message": "Expected `int` >= 1"}
    ]
