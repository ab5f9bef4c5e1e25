"""On the direct plane a signed-in request asks the database whether its session is live only
when the answer is not remembered, and every change that may end a session (sign-out, a disabled
or deleted account) makes the next request ask again, at once; with no connection to listen on,
every request asks."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import jwt
import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.access import SESSION_IS_ACTIVE
from shared.app import create_service_app
from shared.config import Settings
from shared.session_watch import SessionWatch
from tests.app.test_access import access_router
from tests.conftest import JWT_SECRET, plane_settings
from tests.counting import CountingPlane
from tests.world import Person, a_user, bearer, once_heard

LISTENING_WITHIN_S = 5.0


async def until_listening(watch: SessionWatch) -> None:
    deadline = time.monotonic() + LISTENING_WITHIN_S
    while not watch.listening:
        assert time.monotonic() < deadline, "the session watch did not start listening"
        await asyncio.sleep(0.02)


class Watched(msgspec.Struct):
    client: AsyncTestClient[Litestar]
    plane: CountingPlane
    watch: SessionWatch

    def session_checks(self) -> int:
        return sum(query == SESSION_IS_ACTIVE for query in self.plane.queries)


async def watched_service(settings: Settings) -> AsyncIterator[Watched]:
    app = create_service_app("access", [access_router], settings)
    async with AsyncTestClient(app) as client:
        # The app's own plane, wrapped to count what runs through it (not patched).
        plane = CountingPlane(app.state.data_plane)
        app.state.data_plane = plane
        yield Watched(client, plane, app.state.session_watch)


@pytest.fixture
async def direct(database_url: str, postgrest_url: str) -> AsyncIterator[Watched]:
    async for watched in watched_service(plane_settings("postgres", database_url, postgrest_url)):
        await until_listening(watched.watch)
        yield watched


def with_session(person: Person, session_id: str) -> str:
    """`person`'s access token naming the sign-in session `session_id`, as auth issues them."""
    claims = {**person.caller.claims, "session_id": session_id}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def signed_in(database_url: str, person: Person) -> str:
    """A live sign-in session of `person` (a refresh token family), its id."""
    family = str(uuid.uuid4())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at)"
            " values (%s, %s, %s, %s)",
            (person.user_id, family, uuid.uuid4().hex, datetime.now(UTC) + timedelta(days=30)),
        )
    return family


def run_sql(database_url: str, statement: str, *params: object) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement, params)


async def test_a_live_session_is_asked_about_once_then_remembered(
    direct: Watched, database_url: str
) -> None:
    alice = a_user(database_url)

    answers = [await direct.client.get("/access/user", headers=bearer(alice)) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert direct.session_checks() == 1


@pytest.mark.parametrize(
    "ending",
    [
        "update public.users set disabled_at = now() where id = %s",
        "delete from public.users where id = %s",
    ],
    ids=["disabled", "deleted"],
)
async def test_an_account_that_ends_is_refused_at_once_though_remembered(
    direct: Watched, database_url: str, ending: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    for person in (alice, bob):
        assert (await direct.client.get("/access/user", headers=bearer(person))).status_code == 200

    run_sql(database_url, ending, alice.user_id)
    refused = await once_heard(lambda: direct.client.get("/access/user", headers=bearer(alice)))
    unaffected = await direct.client.get("/access/user", headers=bearer(bob))

    assert (refused.status_code, refused.json()["code"]) == (401, "session_ended")
    assert unaffected.status_code == 200
    assert direct.session_checks() == 3  # alice, bob, alice again; bob still remembered


async def test_a_session_signed_out_is_refused_at_once_and_the_users_other_sessions_asked_again(
    direct: Watched, database_url: str
) -> None:
    alice = a_user(database_url)
    laptop, phone = signed_in(database_url, alice), signed_in(database_url, alice)
    on_laptop, on_phone = with_session(alice, laptop), with_session(alice, phone)
    for token in (on_laptop, on_phone):
        assert (await direct.client.get("/access/user", headers=bearer(token))).status_code == 200

    run_sql(
        database_url,
        "update public.refresh_tokens set revoked_at = now() where family_id = %s",
        laptop,
    )
    refused = await once_heard(lambda: direct.client.get("/access/user", headers=bearer(on_laptop)))
    still = await direct.client.get("/access/user", headers=bearer(on_phone))

    assert (refused.status_code, refused.json()["code"]) == (401, "session_ended")
    assert still.status_code == 200
    assert direct.session_checks() == 4


async def test_without_its_connection_the_watch_remembers_nothing_until_it_listens_again(
    direct: Watched, database_url: str
) -> None:
    alice = a_user(database_url)
    await direct.client.get("/access/user", headers=bearer(alice))

    run_sql(
        database_url,
        "select pg_terminate_backend(pid) from pg_stat_activity"
        " where query = 'listen session_changes' and datname = current_database()",
    )
    deadline = time.monotonic() + LISTENING_WITHIN_S
    while direct.watch.listening:
        assert time.monotonic() < deadline, "the watch did not notice its connection closing"
        await asyncio.sleep(0.01)
        direct.watch.is_live(alice.caller)  # a request reads the socket too
    await direct.client.get("/access/user", headers=bearer(alice))
    await until_listening(direct.watch)
    await direct.client.get("/access/user", headers=bearer(alice))
    await direct.client.get("/access/user", headers=bearer(alice))

    # Asked before the loss, while it was lost, then once after listening again.
    assert direct.session_checks() == 3


async def test_an_answer_older_than_a_change_is_not_remembered(
    direct: Watched, database_url: str
) -> None:
    alice = a_user(database_url)
    asked_at = time.monotonic()
    run_sql(database_url, "update public.users set disabled_at = null where id = %s", alice.user_id)
    await asyncio.sleep(0.05)  # the notification arrives while the answer is on its way

    direct.watch.remember(alice.caller, asked_at)

    assert not direct.watch.is_live(alice.caller)


async def test_on_the_data_api_every_request_asks(database_url: str, postgrest_url: str) -> None:
    alice = a_user(database_url)
    async for watched in watched_service(plane_settings("postgrest", database_url, postgrest_url)):
        for _ in range(3):
            await watched.client.get("/access/user", headers=bearer(alice))

        assert not watched.watch.listening
        assert watched.session_checks() == 3


async def test_behind_a_transaction_pooler_every_request_asks(
    database_url: str, postgrest_url: str
) -> None:
    alice = a_user(database_url)
    pooled = plane_settings("postgres", database_url, postgrest_url, db_transaction_pooler=True)
    async for watched in watched_service(pooled):
        for _ in range(3):
            await watched.client.get("/access/user", headers=bearer(alice))

        assert not watched.watch.listening
        assert watched.session_checks() == 3
