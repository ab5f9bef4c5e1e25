"""A guest who signs up (or in) keeps its work: its sites, their company profiles and its prompt
handoffs become the user's, the guest's token finds none of them any more, and the site limit
becomes the user's. Through the real auth flow (auth claims with `claim_guest_session` as the
service role) and the projects API, on both data planes."""

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.auth.app import create_app as create_auth_app
from shared.config import Settings
from tests.auth.conftest import login, signed_up
from tests.projects.conftest import ProjectsClient
from tests.world import Person, bearer, sites

AuthClient = AsyncTestClient[Litestar]


@pytest.fixture
async def auth(projects_settings: Settings) -> AsyncIterator[AuthClient]:
    """The auth service beside the projects service: same database, plane and Redis prefix."""
    settings = msgspec.structs.replace(projects_settings, cookie_secure=False)
    async with AsyncTestClient(create_auth_app(settings)) as client:
        yield client


class Guest(msgspec.Struct, frozen=True):
    token: str
    person: Person


async def a_guest_session(auth: AuthClient) -> Guest:
    """A guest session as a browser gets one: from the auth service."""
    body = (await auth.post("/auth/guest")).json()
    return Guest(body["accessToken"], Person("guest", "guest", session_id=body["sessionId"]))


def guest_work(database_url: str, guest: Guest) -> dict[str, Any]:
    """Two sites of the guest, a company profile on the first, a handoff: their ids."""
    bakery, barber = sites(database_url, guest.person, "Bakery", "Barber")
    with psycopg.connect(database_url, autocommit=True) as conn:
        profile = conn.execute(
            "insert into public.company_profiles (project_id, company_name)"
            " values (%s, 'Bageriet AB') returning id::text",
            (bakery,),
        ).fetchone()
        handoff = conn.execute(
            "insert into public.prompt_handoffs (session_id, prompt)"
            " values (%s, 'En sajt för mitt bageri') returning id::text",
            (guest.person.session_id,),
        ).fetchone()
    assert profile is not None
    assert handoff is not None
    return {"sites": [bakery, barber], "profile": profile[0], "handoff": handoff[0]}


async def signed_up_as(auth: AuthClient, database_url: str, guest: Guest) -> dict[str, Any]:
    """Sign up, then sign in presenting the guest's token: the signed-in session."""
    email = await signed_up(auth, database_url)
    response = await login(auth, email, headers=bearer(guest.token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def what_is_seen(projects: ProjectsClient, token: str, work: dict[str, Any]) -> list[Any]:
    """What `token` finds of the work: site names listed, the first site, profiles, the handoff."""
    listed = await projects.get("/projects", headers=bearer(token))
    site = await projects.get(f"/projects/{work['sites'][0]}", headers=bearer(token))
    profiles = await projects.get("/projects/profiles", headers=bearer(token))
    handoff = await projects.post(
        f"/projects/handoffs/{work['handoff']}/consume", headers=bearer(token)
    )
    return [
        [site["name"] for site in listed.json()["projects"]],
        site.status_code,
        [profile["id"] for profile in profiles.json()["profiles"]],
        handoff.status_code,
    ]


async def test_a_guest_who_signs_up_keeps_its_sites_profiles_and_handoffs(
    projects: ProjectsClient, auth: AuthClient, database_url: str
) -> None:
    guest = await a_guest_session(auth)
    work = guest_work(database_url, guest)

    signed_in = await signed_up_as(auth, database_url, guest)

    assert signed_in["claimed"] == 3  # two sites and the handoff (the profile follows its site)
    assert await what_is_seen(projects, signed_in["accessToken"], work) == [
        ["Barber", "Bakery"],
        200,
        [work["profile"]],
        200,
    ]
    assert await what_is_seen(projects, guest.token, work) == [[], 404, [], 404]


async def test_the_old_guest_token_finds_nothing_even_what_it_had_looked_at(
    projects: ProjectsClient, auth: AuthClient, database_url: str
) -> None:
    guest = await a_guest_session(auth)
    work = guest_work(database_url, guest)
    # the guest looked at its work before signing up (its list and site are cached now)
    await projects.get("/projects", headers=bearer(guest.token))
    await projects.get(f"/projects/{work['sites'][0]}", headers=bearer(guest.token))

    signed_in = await signed_up_as(auth, database_url, guest)

    listed = await projects.get("/projects", headers=bearer(guest.token))
    site = await projects.get(f"/projects/{work['sites'][0]}", headers=bearer(guest.token))
    assert (listed.json()["projects"], site.status_code) == ([], 404)
    mine = await projects.get("/projects", headers=bearer(signed_in["accessToken"]))
    assert [site["name"] for site in mine.json()["projects"]] == ["Barber", "Bakery"]


async def test_a_user_who_had_listed_its_sites_sees_the_claimed_ones_after_signing_in(
    projects: ProjectsClient, auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    before = (await login(auth, email)).json()["accessToken"]
    assert (await projects.get("/projects", headers=bearer(before))).json()["projects"] == []
    guest = await a_guest_session(auth)
    guest_work(database_url, guest)

    signed_in = await login(auth, email, headers=bearer(guest.token))

    for token in (before, signed_in.json()["accessToken"]):
        listed = await projects.get("/projects", headers=bearer(token))
        assert [site["name"] for site in listed.json()["projects"]] == ["Barber", "Bakery"]


async def test_a_guest_at_its_limit_signs_up_and_may_have_ten_sites(
    projects: ProjectsClient, auth: AuthClient, database_url: str
) -> None:
    guest = await a_guest_session(auth)

    def create(token: str, name: str) -> Any:
        return projects.post("/projects", json={"name": name}, headers=bearer(token))

    as_guest = [(await create(guest.token, f"Gäst {n}")).status_code for n in range(4)]
    signed_in = await signed_up_as(auth, database_url, guest)
    user_token = signed_in["accessToken"]
    as_user = [await create(user_token, f"Användare {n}") for n in range(8)]

    assert as_guest == [201, 201, 201, 403]
    assert signed_in["claimed"] == 3
    assert [response.status_code for response in as_user] == [201] * 7 + [403]
    refused = as_user[-1].json()
    assert (refused["code"], refused["projectsRemaining"]) == ("project_limit_reached", 0)
    listed = await projects.get("/projects", headers=bearer(user_token))
    assert len(listed.json()["projects"]) == 10
