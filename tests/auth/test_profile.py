"""PATCH /auth/me: users change their name and picture, and the session cache follows."""

import json

import psycopg
import pytest
import redis.asyncio as redis_asyncio

from tests.auth.conftest import AuthClient, login, signed_up
from tests.world import bearer


async def signed_in(auth: AuthClient, database_url: str) -> tuple[str, dict[str, str]]:
    session = (await login(auth, await signed_up(auth, database_url))).json()
    return session["user"]["id"], bearer(session["accessToken"])


async def test_a_user_renames_themselves_and_the_cache_follows(
    auth: AuthClient, database_url: str, key_prefix: str, redis_inspector: redis_asyncio.Redis
) -> None:
    user_id, headers = await signed_in(auth, database_url)

    response = await auth.patch("/auth/me", json={"name": "Ada Lovelace"}, headers=headers)
    me = await auth.get("/auth/me", headers=headers)

    assert response.status_code == 200
    assert response.json()["user"]["name"] == "Ada Lovelace"
    assert me.json()["user"]["name"] == "Ada Lovelace"
    cached = await redis_inspector.get(f"{key_prefix}user:session:{user_id}")
    assert cached is not None
    assert json.loads(cached)["name"] == "Ada Lovelace"


async def test_null_clears_and_omitted_fields_stay(auth: AuthClient, database_url: str) -> None:
    _, headers = await signed_in(auth, database_url)
    await auth.patch(
        "/auth/me", json={"name": "Ada", "image": "https://img.example.com/a.png"}, headers=headers
    )

    response = await auth.patch("/auth/me", json={"image": None}, headers=headers)

    user = response.json()["user"]
    assert (user["name"], user["image"]) == ("Ada", None)


async def test_only_name_and_image_can_be_changed(auth: AuthClient, database_url: str) -> None:
    user_id, headers = await signed_in(auth, database_url)

    response = await auth.patch("/auth/me", json={"diamonds": 1_000_000}, headers=headers)

    assert response.status_code == 422
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select diamonds from public.users where id = %s", (user_id,)).fetchone()
    assert row == (50,)


async def test_an_over_long_name_is_refused_by_field(auth: AuthClient, database_url: str) -> None:
    _, headers = await signed_in(auth, database_url)

    response = await auth.patch("/auth/me", json={"name": "x" * 201}, headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


async def test_an_empty_change_is_refused(auth: AuthClient, database_url: str) -> None:
    _, headers = await signed_in(auth, database_url)

    response = await auth.patch("/auth/me", json={}, headers=headers)

    assert (response.status_code, response.json()["code"]) == (422, "validation_failed")


async def test_guests_have_no_profile(auth: AuthClient) -> None:
    guest = (await auth.post("/auth/guest")).json()

    response = await auth.patch(
        "/auth/me", json={"name": "Guest"}, headers=bearer(guest["accessToken"])
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "image",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "http://img.example.com/a.png",
        "https://",
        "https://img.example.com/a b.png",
        "https://img.example.com/" + "a" * 2048,
    ],
)
async def test_a_picture_must_be_a_sane_https_url(
    auth: AuthClient, database_url: str, image: str
) -> None:
    user_id, headers = await signed_in(auth, database_url)

    response = await auth.patch("/auth/me", json={"image": image}, headers=headers)

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["image"]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select image from public.users where id = %s", (user_id,)).fetchone()
    assert row == (None,)
