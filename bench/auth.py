"""Auth: what a login costs against the Argon2id check inside it, and how fast access tokens
are verified (new tokens, and the per-process cache of verified ones) against a bare PyJWT
decode of the same token.

Logins run against the real auth service (in-process ASGI, postgres plane) on a database of its
own; rate limiting is off so the figures show the work, not the limiter.
"""

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt
import psycopg
from litestar.testing import AsyncTestClient
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.measure import Figures, measure, table
from bench.servers import postgres_server_url
from services.auth.app import create_app
from services.auth.passwords import HASHER, check_password
from shared.config import Settings
from shared.identity import TokenVerifier
from shared.migrations import migrate

SECRET = "bench-secret-of-at-least-thirty-two-characters"  # noqa: S105 - generated for the run
PASSWORD = "correct horse battery staple"  # noqa: S105 - a benchmark account's
LOGINS = {1: 40, 4: 80}
VERIFICATIONS = 5000


def login_database(server_url: str) -> tuple[str, str]:
    name = f"sajtmaskin_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into public.users (email, password_hash, email_verified)"
            " values ('bench@example.com', %s, true)",
            (HASHER.hash(PASSWORD),),
        )
    return name, url


def drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


async def login_figures(database_url: str) -> list[Figures]:
    stored = HASHER.hash(PASSWORD)
    figures = []
    for concurrency, requests in LOGINS.items():

        async def argon2() -> None:
            await check_password(stored, PASSWORD)

        figures.append(
            await measure(
                "Argon2id check (floor)", argon2, concurrency=concurrency, requests=requests
            )
        )
    settings = Settings(
        database_url=make_conninfo(database_url, user="authenticator"),
        jwt_secret=SECRET,
        supabase_service_role_key=jwt.encode({"role": "service_role"}, SECRET, "HS256"),
        rate_limit_enabled=False,
        log_level="warning",
    )
    async with AsyncTestClient(create_app(settings)) as client:

        async def login() -> None:
            response = await client.post(
                "/auth/login", json={"email": "bench@example.com", "password": PASSWORD}
            )
            response.raise_for_status()

        for concurrency, requests in LOGINS.items():
            figures.append(
                await measure("POST /auth/login", login, concurrency=concurrency, requests=requests)
            )
    return figures


def user_token(issued: int) -> str:
    claims = {
        "role": "authenticated",
        "aud": "authenticated",
        "sub": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + 3600,
    }
    return jwt.encode(claims, SECRET, "HS256")


async def verification_figures() -> list[Figures]:
    tokens = [user_token(int(time.time())) for _ in range(VERIFICATIONS + 50)]
    fresh = iter(tokens)
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier(Settings(jwt_secret=SECRET), http)

        async def bare() -> Any:
            return jwt.decode(next(fresh), SECRET, ["HS256"], audience="authenticated")

        async def new_token() -> Any:
            return await verifier.verify(next(fresh))

        cached_token = tokens[0]

        async def cached() -> Any:
            return await verifier.verify(cached_token)

        figures = [
            await measure("PyJWT decode (floor)", bare, concurrency=1, requests=VERIFICATIONS // 2)
        ]
        fresh = iter(tokens)
        figures.append(
            await measure(
                "TokenVerifier, new token", new_token, concurrency=1, requests=VERIFICATIONS // 2
            )
        )
        figures.append(
            await measure(
                "TokenVerifier, cached token", cached, concurrency=1, requests=VERIFICATIONS
            )
        )
    return figures


def main() -> None:
    server_url = postgres_server_url()
    name, database_url = login_database(server_url)
    try:
        logins = asyncio.run(login_figures(database_url))
    finally:
        drop(server_url, name)
    verifications = asyncio.run(verification_figures())
    print(
        "\nLogin against the Argon2id check inside it (argon2-cffi defaults, 4 hashing threads):\n"
    )
    print(table(logins, {row.concurrency: row for row in logins if "floor" in row.name}))
    print("\nAccess token verification (HS256) against a bare PyJWT decode:\n")
    print(table(verifications, {1: verifications[0]}))
