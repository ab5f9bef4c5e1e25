"""Guessing passwords: limited per client and, across any number of clients, per email."""

import httpx
from litestar import Litestar

from services.auth.app import create_app
from shared.config import Settings
from tests.auth.conftest import new_email

LOGINS_PER_EMAIL = 20


async def attempt(app: Litestar, client_ip: str, email: str) -> httpx.Response:
    """A login with a wrong password from a client at `client_ip`."""
    # httpx types the ASGI app more narrowly than Litestar types its __call__.
    transport = httpx.ASGITransport(app, client=(client_ip, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as client:
        return await client.post("/auth/login", json={"email": email, "password": "a wrong guess"})


async def test_the_21st_attempt_on_one_email_is_refused_whatever_the_address(
    auth_settings: Settings,
) -> None:
    email = new_email()
    served = create_app(auth_settings)
    # Served in this test's own event loop (and task), so clients of any address can call it.
    async with served.lifespan():
        responses = [
            await attempt(served, f"198.51.100.{n}", email) for n in range(1, LOGINS_PER_EMAIL + 2)
        ]
        other_account = await attempt(served, "203.0.113.1", new_email())

    statuses = [response.status_code for response in responses]
    assert statuses == [401] * LOGINS_PER_EMAIL + [429]
    assert responses[-1].json()["code"] == "rate_limited"
    assert "Retry-After" in responses[-1].headers
    # Other accounts are not held back by someone guessing at this one.
    assert other_account.status_code == 401
