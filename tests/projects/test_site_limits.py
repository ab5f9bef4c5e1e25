"""How many sites an owner may have: a guest 3, a free user 10, pro and admin 100. SQL decides, so
creates sent at once never overshoot, and a deleted site makes room again."""

import asyncio
from collections import Counter

import msgspec
import psycopg
import pytest

from services.projects.app import create_app
from shared.config import Settings
from tests.serving import serving
from tests.world import Person, a_guest, a_user, bearer, sites


def count_sites(database_url: str, owner: Person) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from public.app_projects"
            " where user_id is not distinct from %s and session_id is not distinct from %s",
            (owner.user_id, owner.session_id),
        ).fetchone()
    assert row is not None
    return int(row[0])


def under_load(settings: Settings) -> Settings:
    """Twenty creates from one caller on a busy machine: the Data API given time."""
    return msgspec.structs.replace(settings, http_timeout_s=30.0)


@pytest.mark.parametrize(
    ("kind", "limit", "existing"), [("user", 10, 8), ("guest", 3, 1)], ids=["free user", "guest"]
)
async def test_twenty_creates_at_once_fill_the_limit_exactly(
    kind: str, limit: int, existing: int, projects_settings: Settings, database_url: str
) -> None:
    # given an owner two sites short of its limit
    owner = a_user(database_url) if kind == "user" else a_guest()
    sites(database_url, owner, *(f"Site {n}" for n in range(existing)))

    # when it creates twenty sites at once
    async with serving(create_app(under_load(projects_settings))) as projects:
        responses = await asyncio.gather(
            *(
                projects.post("/projects", json={"name": f"New {n}"}, headers=bearer(owner))
                for n in range(20)
            )
        )

    # then exactly two are created, the others are told the limit is reached
    assert Counter(response.status_code for response in responses) == {201: 2, 403: 18}
    refused = [response.json() for response in responses if response.status_code == 403]
    assert {(body["code"], body["projectsRemaining"]) for body in refused} == {
        ("project_limit_reached", 0)
    }
    assert count_sites(database_url, owner) == limit


@pytest.mark.parametrize("tier", ["pro", "admin"])
async def test_pro_and_admin_users_have_a_hundred_sites(
    tier: str, projects_settings: Settings, database_url: str
) -> None:
    owner = a_user(database_url, tier=tier)
    sites(database_url, owner, *(f"Site {n}" for n in range(99)))

    async with serving(create_app(projects_settings)) as projects:
        hundredth = await projects.post("/projects", json={"name": "100"}, headers=bearer(owner))
        beyond = await projects.post("/projects", json={"name": "101"}, headers=bearer(owner))

    assert (hundredth.status_code, beyond.status_code) == (201, 403)
    assert count_sites(database_url, owner) == 100


async def test_a_deleted_site_makes_room_for_a_new_one(
    projects_settings: Settings, database_url: str
) -> None:
    guest = a_guest()
    first, *_ = sites(database_url, guest, "A", "B", "C")

    async with serving(create_app(projects_settings)) as projects:
        full = await projects.post("/projects", json={"name": "D"}, headers=bearer(guest))
        await projects.delete(f"/projects/{first}", headers=bearer(guest))
        room = await projects.post("/projects", json={"name": "D"}, headers=bearer(guest))

    assert (full.status_code, room.status_code) == (403, 201)
    assert count_sites(database_url, guest) == 3


async def test_a_guests_sites_count_against_the_user_who_claims_them(
    projects_settings: Settings, database_url: str
) -> None:
    # given a guest with three sites, who signs up as a user with eight
    guest, user = a_guest(), a_user(database_url)
    sites(database_url, guest, "G1", "G2", "G3")
    sites(database_url, user, *(f"U{n}" for n in range(8)))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select public.claim_guest_session(%s, %s)", (user.user_id, guest.session_id))

    # when the user creates a site
    async with serving(create_app(projects_settings)) as projects:
        response = await projects.post("/projects", json={"name": "Ny"}, headers=bearer(user))

    # then it has its eleven sites, and no more
    assert (response.status_code, response.json()["code"]) == (403, "project_limit_reached")
    assert count_sites(database_url, user) == 11
