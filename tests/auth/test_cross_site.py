"""A page on another site cannot use a signed-in browser's cookies to change anything, even with
requests that have no body (and so pass SameSite=Lax and the JSON-only rule)."""

import pytest

from shared.config import Settings
from tests.auth.conftest import AuthClient, login, signed_up

BODYLESS_CHANGES = ["/auth/logout", "/auth/guest", "/auth/github/disconnect", "/auth/refresh"]


@pytest.mark.parametrize("path", BODYLESS_CHANGES)
async def test_a_cross_site_post_riding_on_the_cookies_is_refused(
    auth: AuthClient, database_url: str, path: str
) -> None:
    email = await signed_up(auth, database_url)
    assert (await login(auth, email)).status_code == 200

    response = await auth.post(path, headers={"Origin": "https://evil.example"})

    assert (response.status_code, response.json()["code"]) == (403, "cross_site_request")
    assert response.headers.get_list("set-cookie") == []
    assert (await auth.get("/auth/me")).status_code == 200


async def test_the_apps_own_pages_sign_out_with_the_cookies(
    auth: AuthClient, auth_settings: Settings, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    assert (await login(auth, email)).status_code == 200

    response = await auth.post("/auth/logout", headers={"Origin": auth_settings.allowed_origins[0]})

    assert response.status_code == 204
    assert (await auth.get("/auth/me")).status_code == 401


async def test_the_app_may_call_with_credentials_from_its_origin(
    auth: AuthClient, auth_settings: Settings
) -> None:
    origin = auth_settings.allowed_origins[0]

    preflight = await auth.options(
        "/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    foreign = await auth.options(
        "/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in foreign.headers
