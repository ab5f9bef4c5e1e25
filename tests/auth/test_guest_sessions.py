"""Guest sessions: a token of their own, their usage, and their work claimed by the account."""

import uuid

import jwt
import psycopg

from shared.identity import ACCESS_COOKIE
from tests.auth.conftest import AuthClient, login, signed_up
from tests.conftest import JWT_SECRET
from tests.world import bearer


async def test_a_guest_session_gets_a_token_and_a_cookie(auth: AuthClient) -> None:
    response = await auth.post("/auth/guest")

    body = response.json()
    claims = jwt.decode(body["accessToken"], JWT_SECRET, algorithms=["HS256"])
    assert response.status_code == 201
    assert body["sessionId"].startswith("sess_")
    assert uuid.UUID(body["sessionId"].removeprefix("sess_")).version == 4
    assert claims["role"] == "anon"
    assert claims["guest_session"] == body["sessionId"]
    assert "aud" not in claims
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert response.cookies[ACCESS_COOKIE] == body["accessToken"]


async def test_a_new_guest_has_used_nothing(auth: AuthClient, database_url: str) -> None:
    guest = (await auth.post("/auth/guest")).json()

    me = await auth.get("/auth/me", headers=bearer(guest["accessToken"]))

    assert me.json() == {
        "kind": "guest",
        "generationsUsed": 0,
        "refinesUsed": 0,
        "canGenerate": True,
        "canRefine": True,
    }
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select count(*) from public.guest_usage where session_id = %s", (guest["sessionId"],)
        ).fetchone()
    assert rows == (0,)  # created lazily, by billing, not here


async def test_a_guest_sees_its_own_usage(auth: AuthClient, database_url: str) -> None:
    guest = (await auth.post("/auth/guest")).json()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.guest_usage (session_id, generations_used) values (%s, 1)",
            (guest["sessionId"],),
        )

    me = await auth.get("/auth/me", headers=bearer(guest["accessToken"]))

    assert me.json()["generationsUsed"] == 1
    assert me.json()["canGenerate"] is False
    assert me.json()["canRefine"] is True


async def test_anonymous_callers_have_no_me(auth: AuthClient) -> None:
    response = await auth.get("/auth/me")

    assert response.status_code == 401


def add_guest_site(database_url: str, session_id: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into public.app_projects (session_id, name) values (%s, 'Guest site')"
            " returning id",
            (session_id,),
        ).fetchone()
    assert row is not None
    return str(row[0])


def owner_of(database_url: str, site: str) -> tuple[str | None, str | None]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select user_id::text, session_id from public.app_projects where id = %s", (site,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_signing_in_as_a_guest_moves_its_work_to_the_account_once(
    auth: AuthClient, database_url: str
) -> None:
    guest = (await auth.post("/auth/guest")).json()  # the client now carries the guest cookie
    site = add_guest_site(database_url, guest["sessionId"])
    email = await signed_up(auth, database_url)

    first = await login(auth, email)
    second = await login(auth, email, headers=bearer(guest["accessToken"]))

    assert first.json()["claimed"] == 1
    assert owner_of(database_url, site) == (first.json()["user"]["id"], None)
    assert second.json()["claimed"] == 0


async def test_signing_in_without_a_guest_session_claims_nothing(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)

    response = await login(auth, email)

    assert response.json()["claimed"] == 0


async def test_a_stale_token_does_not_stop_anyone_signing_in(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    expired = jwt.encode(
        {"role": "anon", "guest_session": f"sess_{uuid.uuid4()}", "iat": 1, "exp": 2},
        JWT_SECRET,
        "HS256",
    )

    response = await login(auth, email, headers=bearer(expired))

    assert response.status_code == 200
    assert response.json()["claimed"] == 0
