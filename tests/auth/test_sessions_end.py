"""A session ends for every token of it at once: sign-out with either token, a deleted or
disabled account, a password reset. The services refuse its access tokens from then on."""

from functools import partial

import jwt
import psycopg
from litestar.testing import AsyncTestClient

from services.projects.app import create_app as create_projects_app
from shared.config import Settings
from tests.auth.conftest import AuthClient, login, signed_up
from tests.world import bearer, once_heard


async def signed_in(auth: AuthClient, database_url: str) -> tuple[str, dict[str, str]]:
    """A new account's email and its session's tokens."""
    email = await signed_up(auth, database_url)
    tokens: dict[str, str] = (await login(auth, email)).json()
    return email, tokens


async def test_signing_out_with_only_the_access_token_ends_the_session(
    auth: AuthClient, database_url: str, auth_settings: Settings
) -> None:
    _, tokens = await signed_in(auth, database_url)
    auth.cookies.clear()  # an API client: no cookies, only the bearer token

    response = await auth.post("/auth/logout", headers=bearer(tokens["accessToken"]))

    assert response.status_code == 204
    refreshed = await auth.post("/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 401
    me = await auth.get("/auth/me", headers=bearer(tokens["accessToken"]))
    assert (me.status_code, me.json()["code"]) == (401, "session_ended")
    async with AsyncTestClient(create_projects_app(auth_settings)) as projects:
        sites = await projects.get("/projects", headers=bearer(tokens["accessToken"]))
    assert (sites.status_code, sites.json()["code"]) == (401, "session_ended")


async def test_signing_out_with_the_refresh_token_ends_its_access_tokens_too(
    auth: AuthClient, database_url: str
) -> None:
    _, tokens = await signed_in(auth, database_url)
    auth.cookies.clear()

    await auth.post("/auth/logout", json={"refreshToken": tokens["refreshToken"]})

    me = await auth.get("/auth/me", headers=bearer(tokens["accessToken"]))
    assert (me.status_code, me.json()["code"]) == (401, "session_ended")


async def test_signing_out_one_session_leaves_the_others(
    auth: AuthClient, database_url: str
) -> None:
    email, laptop = await signed_in(auth, database_url)
    phone = (await login(auth, email)).json()
    auth.cookies.clear()

    await auth.post("/auth/logout", headers=bearer(laptop["accessToken"]))

    assert (await auth.get("/auth/me", headers=bearer(phone["accessToken"]))).status_code == 200


async def test_tokens_of_deleted_and_disabled_accounts_are_refused_at_once(
    auth: AuthClient, database_url: str
) -> None:
    deleted, deleted_tokens = await signed_in(auth, database_url)
    disabled, disabled_tokens = await signed_in(auth, database_url)
    # Both answered from the session cache a moment ago.
    for tokens in (deleted_tokens, disabled_tokens):
        assert (
            await auth.get("/auth/me", headers=bearer(tokens["accessToken"]))
        ).status_code == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from public.users where email = %s", (deleted,))
        conn.execute("update public.users set disabled_at = now() where email = %s", (disabled,))
    auth.cookies.clear()

    for tokens in (deleted_tokens, disabled_tokens):
        access = bearer(tokens["accessToken"])
        me = await once_heard(partial(auth.get, "/auth/me", headers=access))
        renamed = await auth.patch("/auth/me", json={"name": "Still here?"}, headers=access)
        assert (me.status_code, me.json()["code"]) == (401, "session_ended")
        assert (renamed.status_code, renamed.json()["code"]) == (401, "session_ended")


async def test_access_tokens_name_their_session(auth: AuthClient, database_url: str) -> None:
    _, tokens = await signed_in(auth, database_url)
    claims = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    with psycopg.connect(database_url) as conn:
        families = conn.execute(
            "select distinct family_id::text from public.refresh_tokens where user_id = %s",
            (claims["sub"],),
        ).fetchall()
    assert families == [(claims["session_id"],)]
