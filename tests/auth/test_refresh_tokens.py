"""Refresh tokens: rotated on every use, a replayed one revokes its whole family, logout revokes;
two tabs refreshing at once share one successor."""

import asyncio

import msgspec
import psycopg
from litestar.testing import AsyncTestClient

from services.auth.app import create_app
from shared.config import Settings
from tests.auth.conftest import AuthClient, login, signed_up
from tests.world import bearer


async def refresh(auth: AuthClient, token: str) -> tuple[int, str | None]:
    """The status of exchanging `token`, and the successor token when there is one."""
    response = await auth.post("/auth/refresh", json={"refreshToken": token})
    return response.status_code, response.json().get("refreshToken")


async def signed_in_refresh_token(auth: AuthClient, database_url: str) -> str:
    email = await signed_up(auth, database_url)
    token: str = (await login(auth, email)).json()["refreshToken"]
    return token


async def test_each_refresh_gives_a_new_token_and_a_working_access_token(
    auth: AuthClient, database_url: str
) -> None:
    token = await signed_in_refresh_token(auth, database_url)

    response = await auth.post("/auth/refresh", json={"refreshToken": token})
    me = await auth.get("/auth/me", headers=bearer(response.json()["accessToken"]))

    assert response.status_code == 200
    assert response.json()["refreshToken"] != token
    assert me.status_code == 200


async def test_a_stolen_token_replayed_after_rotation_ends_the_whole_family(
    auth: AuthClient, database_url: str
) -> None:
    stolen = await signed_in_refresh_token(auth, database_url)
    # The thief (or the victim) rotates first and keeps using the family.
    _, successor = await refresh(auth, stolen)
    assert successor is not None
    _, later = await refresh(auth, successor)
    assert later is not None

    replay = await refresh(auth, stolen)

    assert replay == (401, None)
    assert await refresh(auth, later) == (401, None)
    assert await refresh(auth, successor) == (401, None)


async def test_replay_does_not_touch_the_users_other_sessions(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    laptop = (await login(auth, email)).json()["refreshToken"]
    phone = (await login(auth, email)).json()["refreshToken"]
    await refresh(auth, laptop)

    await refresh(auth, laptop)

    assert (await refresh(auth, phone))[0] == 200


async def test_an_invalid_refresh_token_gets_a_clear_code(auth: AuthClient) -> None:
    response = await auth.post("/auth/refresh", json={"refreshToken": "not-a-token"})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


async def test_the_refresh_cookie_works_without_a_body(auth: AuthClient, database_url: str) -> None:
    await signed_in_refresh_token(auth, database_url)  # the client keeps the cookies

    first = await auth.post("/auth/refresh")
    second = await auth.post("/auth/refresh")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["refreshToken"] != second.json()["refreshToken"]


async def test_logout_revokes_the_session_and_clears_the_cookies(
    auth: AuthClient, database_url: str
) -> None:
    token = await signed_in_refresh_token(auth, database_url)
    _, successor = await refresh(auth, token)

    response = await auth.post("/auth/logout")

    assert response.status_code == 204
    assert all("Max-Age=0" in cookie for cookie in response.headers.get_list("set-cookie"))
    assert await refresh(auth, successor or "") == (401, None)


async def test_disabled_and_deleted_users_cannot_refresh(
    auth: AuthClient, database_url: str
) -> None:
    disabled = await signed_up(auth, database_url)
    deleted = await signed_up(auth, database_url)
    disabled_token = (await login(auth, disabled)).json()["refreshToken"]
    deleted_token = (await login(auth, deleted)).json()["refreshToken"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update public.users set disabled_at = now() where email = %s", (disabled,))
        conn.execute("delete from public.users where email = %s", (deleted,))

    assert await refresh(auth, disabled_token) == (401, None)
    assert await refresh(auth, deleted_token) == (401, None)


async def test_two_tabs_refreshing_at_once_both_stay_signed_in(
    auth: AuthClient, database_url: str
) -> None:
    token = await signed_in_refresh_token(auth, database_url)

    first, second = await asyncio.gather(refresh(auth, token), refresh(auth, token))

    assert (first[0], second[0]) == (200, 200)
    assert first[1] == second[1]
    assert (await refresh(auth, first[1] or ""))[0] == 200


async def test_a_rotated_token_presented_after_the_reuse_interval_ends_the_session(
    auth_settings: Settings, database_url: str
) -> None:
    no_grace = msgspec.structs.replace(auth_settings, refresh_reuse_interval_s=0)
    async with AsyncTestClient(create_app(no_grace)) as auth:
        token = await signed_in_refresh_token(auth, database_url)
        _, successor = await refresh(auth, token)

        replay = await refresh(auth, token)

        assert replay == (401, None)
        assert await refresh(auth, successor or "") == (401, None)
