"""Access in the signature: `user` and `owner` let through who they name and refuse everyone
else with one 401, a token whose user or session is gone with `session_ended`; repositories run
as the caller or as the service role, as their route says."""

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
from httpx import Response
from litestar import Litestar, Router, get
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient

from shared.access import Owner, SignedInUser, as_caller, as_service_role
from shared.app import create_service_app
from shared.config import Settings
from shared.data.query import Select, asc
from shared.data.repository import Repository
from tests.conftest import JWT_SECRET
from tests.tenancy import service_role_key
from tests.world import Person, a_guest, a_user, bearer, sites


class SiteNames(Repository):
    async def names(self) -> list[str]:
        rows = await self.rows(Select("app_projects", ("name",), order=(asc("name"),)))
        return [row["name"] for row in rows]


@get("/user", sync_to_thread=False)
def signed_in(user: NamedDependency[SignedInUser]) -> dict[str, Any]:
    return {"id": str(user.id), "email": user.email}


@get("/owner", sync_to_thread=False)
def owner(owner: NamedDependency[Owner]) -> dict[str, Any]:
    return {"userId": owner.user_id and str(owner.user_id), "guestSession": owner.guest_session}


@get("/mine")
async def mine(owner: NamedDependency[Owner], mine: NamedDependency[SiteNames]) -> list[str]:
    return await mine.names()


@get("/everyones")
async def everyones(everyones: NamedDependency[SiteNames]) -> list[str]:
    return await everyones.names()


access_router = Router(
    "/access",
    route_handlers=[signed_in, owner, mine, everyones],
    dependencies={"mine": as_caller(SiteNames), "everyones": as_service_role(SiteNames)},
)


@pytest.fixture
async def access(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A service of the routes above, on each plane."""
    settings = msgspec.structs.replace(
        settings, supabase_service_role_key=service_role_key(JWT_SECRET)
    )
    async with AsyncTestClient(create_service_app("access", [access_router], settings)) as client:
        yield client


async def test_a_signed_in_user_reaches_the_handler(
    access: AsyncTestClient[Litestar], database_url: str
) -> None:
    alice = a_user(database_url)

    response = await access.get("/access/user", headers=bearer(alice))

    assert response.json() == {"id": alice.user_id, "email": alice.email}


@pytest.mark.parametrize("who", ["anonymous", "guest"])
async def test_anyone_but_a_user_is_told_to_sign_in(
    access: AsyncTestClient[Litestar], who: str
) -> None:
    headers = bearer(a_guest()) if who == "guest" else {}

    response = await access.get("/access/user", headers=headers)

    assert_told_to_sign_in(response)


async def test_users_and_guests_are_owners(
    access: AsyncTestClient[Litestar], database_url: str
) -> None:
    alice, guest = a_user(database_url), a_guest()

    as_user = await access.get("/access/owner", headers=bearer(alice))
    as_guest = await access.get("/access/owner", headers=bearer(guest))

    assert as_user.json() == {"userId": alice.user_id, "guestSession": None}
    assert as_guest.json() == {"userId": None, "guestSession": guest.session_id}


async def test_an_anonymous_caller_owns_nothing(access: AsyncTestClient[Litestar]) -> None:
    response = await access.get("/access/owner")

    assert_told_to_sign_in(response)


def assert_told_to_sign_in(response: Response) -> None:
    problem = response.json()
    assert (response.status_code, problem["code"], problem["detail"]) == (
        401,
        "unauthorized",
        "Sign in first.",
    )


def delete_user(database_url: str, person: Person) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from public.users where id = %s", (person.user_id,))


@pytest.mark.parametrize("path", ["/access/user", "/access/owner"])
async def test_the_token_of_a_deleted_user_is_refused_at_once(
    access: AsyncTestClient[Litestar], database_url: str, path: str
) -> None:
    gone = a_user(database_url)
    delete_user(database_url, gone)

    response = await access.get(path, headers=bearer(gone))

    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"


@pytest.mark.parametrize("path", ["/access/user", "/access/owner"])
async def test_the_token_of_a_disabled_user_is_refused_at_once(
    access: AsyncTestClient[Litestar], database_url: str, path: str
) -> None:
    disabled = a_user(database_url, disabled_at="2026-01-01T00:00:00Z")

    response = await access.get(path, headers=bearer(disabled))

    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"


@pytest.fixture
def alice(database_url: str) -> Person:
    """A user with a site, beside another user with one."""
    alice, bob = a_user(database_url), a_user(database_url)
    sites(database_url, alice, "Alice's bakery")
    sites(database_url, bob, "Bob's barber")
    return alice


async def test_a_repository_as_the_caller_sees_the_callers_rows_only(
    access: AsyncTestClient[Litestar], alice: Person
) -> None:
    response = await access.get("/access/mine", headers=bearer(alice))

    assert response.json() == ["Alice's bakery"]


async def test_a_repository_as_the_service_role_sees_every_row(
    access: AsyncTestClient[Litestar], alice: Person
) -> None:
    names = (await access.get("/access/everyones")).json()

    assert {"Alice's bakery", "Bob's barber"} <= set(names)
