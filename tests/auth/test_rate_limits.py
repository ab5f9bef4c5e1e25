"""Anti-abuse limits: per client address whatever token is presented, per email across any
number of addresses, and per mailbox for everything that sends mail."""

import httpx
import psycopg
from litestar import Litestar

from services.auth.app import create_app
from shared.config import Settings
from shared.ratelimit import POLICIES
from tests.auth.conftest import new_email
from tests.world import a_guest, bearer


def client_at(app: Litestar, client_ip: str) -> httpx.AsyncClient:
    """A client of `app` whose requests come from `client_ip`."""
    # httpx types the ASGI app more narrowly than Litestar types its __call__.
    transport = httpx.ASGITransport(app, client=(client_ip, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://auth.test")


async def attempt(app: Litestar, client_ip: str, email: str, **kwargs: object) -> httpx.Response:
    """A login with a wrong password from a client at `client_ip`."""
    async with client_at(app, client_ip) as client:
        return await client.post(
            "/auth/login",
            json={"email": email, "password": "a wrong guess"},
            **kwargs,  # type: ignore[arg-type]
        )


async def test_the_21st_attempt_on_one_email_is_refused_whatever_the_address(
    auth_settings: Settings,
) -> None:
    email = new_email()
    per_email = POLICIES["login_email"].limit
    served = create_app(auth_settings)
    # Served in this test's own event loop (and task), so clients of any address can call it.
    async with served.lifespan():
        responses = [
            await attempt(served, f"198.51.100.{n}", email) for n in range(1, per_email + 2)
        ]
        other_account = await attempt(served, "203.0.113.1", new_email())

    statuses = [response.status_code for response in responses]
    assert statuses == [401] * per_email + [429]
    assert responses[-1].json()["code"] == "rate_limited"
    assert "Retry-After" in responses[-1].headers
    # Other accounts are not held back by someone guessing at this one.
    assert other_account.status_code == 401


async def test_a_new_guest_token_for_every_attempt_buys_no_more_logins(
    auth_settings: Settings,
) -> None:
    per_client = POLICIES["login"].limit
    served = create_app(auth_settings)
    async with served.lifespan():
        statuses = [
            (
                await attempt(served, "198.51.100.7", new_email(), headers=bearer(a_guest()))
            ).status_code
            for _ in range(per_client + 1)
        ]

    assert statuses == [401] * per_client + [429]


async def test_guest_sessions_started_with_a_guest_token_count_against_the_address(
    auth_settings: Settings,
) -> None:
    per_client = POLICIES["guest_session"].limit
    served = create_app(auth_settings)
    async with served.lifespan(), client_at(served, "198.51.100.8") as client:
        statuses = []
        token: str | None = None
        for _ in range(per_client + 1):
            # Each request presents the guest token the previous one was given.
            response = await client.post("/auth/guest", headers=bearer(token) if token else {})
            statuses.append(response.status_code)
            token = response.json().get("accessToken", token)

    assert statuses == [201] * per_client + [429]


async def test_nobody_can_mail_bomb_an_address_from_many_clients(
    auth_settings: Settings, database_url: str
) -> None:
    victim = new_email()
    per_mailbox = POLICIES["mail_recipient"].limit
    served = create_app(auth_settings)
    async with served.lifespan():
        register = await attempt_register(served, "198.51.100.20", victim)
        statuses = [register.status_code]
        for n in range(per_mailbox + 2):
            async with client_at(served, f"198.51.100.{30 + n}") as client:
                path = "/auth/password/forgot" if n % 2 else "/auth/resend-verification"
                statuses.append((await client.post(path, json={"email": victim})).status_code)

    assert statuses[0] == 201
    assert 429 in statuses
    with psycopg.connect(database_url) as conn:
        mails = conn.execute(
            "select count(*) from public.email_outbox where to_address = %s", (victim,)
        ).fetchone()
    assert mails == (per_mailbox,)


async def attempt_register(app: Litestar, client_ip: str, email: str) -> httpx.Response:
    async with client_at(app, client_ip) as client:
        return await client.post(
            "/auth/register", json={"email": email, "password": "a long enough password"}
        )
