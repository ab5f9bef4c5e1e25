"""The auth service on the session database, once per data plane, with Redis for limits and the
session cache; and the steps of signing up as a person would take them."""

import re
import uuid
from collections.abc import AsyncIterator

import msgspec
import psycopg
import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.auth.app import create_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL
from tests.tenancy import service_role_key

PASSWORD = "correct horse battery staple"
EMAILED_TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")

AuthClient = AsyncTestClient[Litestar]


@pytest.fixture
def auth_settings(settings: Settings, key_prefix: str) -> Settings:
    """The auth service as deployed over http: the service role's key, cookies without Secure,
    Redis under a prefix of this test's own (fresh rate limits, fresh session cache)."""
    return msgspec.structs.replace(
        settings,
        supabase_service_role_key=service_role_key(JWT_SECRET),
        cookie_secure=False,
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
        # Limits are decided by Redis even on a machine busy running the suite in parallel.
        rate_limit_timeout_ms=2000,
    )


@pytest.fixture
async def auth(auth_settings: Settings) -> AsyncIterator[AuthClient]:
    async with AsyncTestClient(create_app(auth_settings)) as client:
        yield client


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def emailed_token(database_url: str, email: str) -> str:
    """The token in the newest mail queued for `email`, read from the outbox as the mailer would."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select body_text from public.email_outbox where to_address = %s"
            " order by created_at desc limit 1",
            (email,),
        ).fetchone()
    assert row is not None, f"no mail for {email}"
    match = EMAILED_TOKEN.search(row[0])
    assert match is not None
    return match[1]


async def register(client: AuthClient, email: str, password: str = PASSWORD) -> Response:
    return await client.post("/auth/register", json={"email": email, "password": password})


async def signed_up(client: AuthClient, database_url: str, email: str | None = None) -> str:
    """A registered, verified account's email (its password is PASSWORD)."""
    email = email or new_email()
    assert (await register(client, email)).status_code == 201
    token = emailed_token(database_url, email)
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 200
    return email


async def login(
    client: AuthClient, email: str, password: str = PASSWORD, **kwargs: object
) -> Response:
    return await client.post(
        "/auth/login",
        json={"email": email, "password": password},
        **kwargs,  # type: ignore[arg-type]
    )
