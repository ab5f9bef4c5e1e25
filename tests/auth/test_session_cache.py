"""The `user:session:{id}` cache: written at sign-in, gone at sign-out and password reset."""

import json

import redis.asyncio as redis_asyncio

from tests.auth.conftest import AuthClient, emailed_token, login, signed_up


async def test_signing_in_caches_the_public_user_for_a_week(
    auth: AuthClient, database_url: str, key_prefix: str, redis_inspector: redis_asyncio.Redis
) -> None:
    email = await signed_up(auth, database_url)

    user = (await login(auth, email)).json()["user"]

    key = f"{key_prefix}user:session:{user['id']}"
    cached = await redis_inspector.get(key)
    assert cached is not None
    assert json.loads(cached) == user
    assert 7 * 24 * 3600 - 60 < await redis_inspector.ttl(key) <= 7 * 24 * 3600


async def test_signing_out_drops_the_cached_user(
    auth: AuthClient, database_url: str, key_prefix: str, redis_inspector: redis_asyncio.Redis
) -> None:
    email = await signed_up(auth, database_url)
    user = (await login(auth, email)).json()["user"]

    await auth.post("/auth/logout")

    assert await redis_inspector.exists(f"{key_prefix}user:session:{user['id']}") == 0


async def test_resetting_the_password_drops_the_cached_user(
    auth: AuthClient, database_url: str, key_prefix: str, redis_inspector: redis_asyncio.Redis
) -> None:
    email = await signed_up(auth, database_url)
    user = (await login(auth, email)).json()["user"]
    await auth.post("/auth/password/forgot", json={"email": email})

    await auth.post(
        "/auth/password/reset",
        json={"token": emailed_token(database_url, email), "password": "a new passphrase"},
    )

    assert await redis_inspector.exists(f"{key_prefix}user:session:{user['id']}") == 0
