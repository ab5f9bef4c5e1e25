"""A page of another site cannot make a cookie-authenticated change; our own pages and the
allowed frontend can, with CORS credentials, and non-browser clients are not affected."""

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.identity import ACCESS_COOKIE

Client = AsyncTestClient[Litestar]

FRONTEND = "http://127.0.0.1:3000"  # APP_BASE_URL's origin, the default CORS_ORIGINS
EVIL = "https://evil.example"
SIGNED_IN = {"Cookie": f"{ACCESS_COOKIE}=the-session"}


async def test_a_cookie_carrying_post_from_another_site_is_refused(probe: Client) -> None:
    response = await probe.post("/probe/touch", headers={**SIGNED_IN, "Origin": EVIL})

    assert response.status_code == 403
    assert response.json()["code"] == "cross_site_request"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_every_unsafe_method_is_checked(probe: Client, method: str) -> None:
    headers = {"Cookie": "sajtmaskin_refresh=the-family", "Origin": EVIL}

    response = await probe.request(method, "/probe/touch", headers=headers)

    assert response.status_code == 403


async def test_without_an_origin_a_cross_site_fetch_is_refused(probe: Client) -> None:
    response = await probe.post(
        "/probe/touch", headers={**SIGNED_IN, "Sec-Fetch-Site": "cross-site"}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "cross_site_request"


@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": FRONTEND},
        {"Origin": "http://127.0.0.1:8000"},  # PUBLIC_BASE_URL, the API's own origin
        {"Origin": "http://testserver.local"},  # the host the request was sent to
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {},  # not a browser: curl, a server, a webhook
    ],
    ids=["frontend", "public", "own-host", "same-origin", "typed", "no-browser"],
)
async def test_our_pages_and_non_browser_clients_may_change_things(
    probe: Client, browser: dict[str, str]
) -> None:
    response = await probe.post("/probe/touch", headers={**SIGNED_IN, **browser})

    assert response.status_code == 204


async def test_a_bearer_token_is_not_a_cookie_and_passes(probe: Client) -> None:
    headers = {**SIGNED_IN, "Origin": EVIL, "Authorization": "Bearer a-token"}

    response = await probe.post("/probe/touch", headers=headers)

    assert response.status_code != 403


async def test_requests_without_our_cookies_or_that_change_nothing_pass(probe: Client) -> None:
    without_cookie = await probe.post(
        "/probe/touch", headers={"Origin": EVIL, "Cookie": "theirs=1"}
    )
    read = await probe.get("/health", headers={**SIGNED_IN, "Origin": EVIL})

    assert (without_cookie.status_code, read.status_code) == (204, 200)


async def test_the_frontend_may_call_with_credentials(probe: Client) -> None:
    preflight = await probe.options(
        "/probe/touch",
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    response = await probe.post("/probe/touch", headers={**SIGNED_IN, "Origin": FRONTEND})

    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == FRONTEND
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-origin"] == FRONTEND
    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert exposed >= {
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
        "x-request-id",
        "idempotent-replayed",
    }


async def test_another_site_gets_no_cors_grant(probe: Client) -> None:
    preflight = await probe.options(
        "/probe/touch", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )

    assert "access-control-allow-origin" not in preflight.headers
