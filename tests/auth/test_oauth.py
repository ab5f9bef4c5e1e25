"""Google sign-in and GitHub linking, a browser's whole round trip through the providers' fakes."""

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg.rows import dict_row

from services.auth.app import create_app
from services.auth.tokens import purpose_key
from shared.config import Settings
from shared.identity import ACCESS_COOKIE
from standins.http_server import serve_http
from tests.auth.conftest import AuthClient, login, new_email, register, signed_up
from tests.fakes.github import FakeGitHub, GitHubAccount
from tests.fakes.google import FakeGoogle, GoogleIdentity, s256
from tests.world import bearer

APP = "https://app.sajtmaskin.test"
# Where the test client sends requests, so the providers' redirects come back to it.
PUBLIC = "http://testserver.local"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle("google-client.apps.googleusercontent.com", "GOCSPX-secret", _identity())
    with serve_http(fake) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub("Iv1.0a1b2c3d4e5f", "github-client-secret", GitHubAccount(583231, "octocat"))
    with serve_http(fake) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
def oauth_settings(auth_settings: Settings, google: FakeGoogle, github: FakeGitHub) -> Settings:
    return msgspec.structs.replace(
        auth_settings,
        public_base_url=PUBLIC,
        app_base_url=APP,
        google_client_id=google.client_id,
        google_client_secret=google.client_secret,
        google_auth_url=google.auth_url,
        google_token_url=google.token_url,
        google_userinfo_url=google.userinfo_url,
        github_client_id=github.client_id,
        github_client_secret=github.client_secret,
        github_auth_url=github.auth_url,
        github_token_url=github.token_url,
        github_api_url=github.api_url,
    )


@pytest.fixture
async def client(oauth_settings: Settings) -> AsyncIterator[AuthClient]:
    async with new_browser(oauth_settings) as browser:
        yield browser


def new_browser(settings: Settings) -> AuthClient:
    """A browser (its own cookies) on the service; it stops at each redirect to inspect it."""
    browser = AsyncTestClient(create_app(settings))
    browser.follow_redirects = False
    return browser


def _identity(*, email_verified: bool = True, email: str | None = None) -> GoogleIdentity:
    return GoogleIdentity.new(email or new_email(), email_verified=email_verified)


async def consent(provider_url: str) -> str:
    """The browser at the provider's authorization URL: the path of the redirect back to us."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(provider_url)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == PUBLIC
    return f"{location.path}?{location.query}"


async def start(client: AuthClient, provider: str) -> str:
    response = await client.get(f"/auth/{provider}")
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def sign_in_with_google(client: AuthClient) -> httpx.Response:
    return await client.get(await consent(await start(client, "google")))


def outcome(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    """Where the app was sent back to, and with what query."""
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return f"{location.scheme}://{location.netloc}{location.path}", parse_qs(location.query)


def success() -> tuple[str, dict[str, list[str]]]:
    return f"{APP}/", {"auth": ["success"]}


def failure(reason: str) -> tuple[str, dict[str, list[str]]]:
    return f"{APP}/", {"auth": ["error"], "reason": [reason]}


def user_row(database_url: str, email: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("select * from public.users where email = %s", (email,)).fetchone()


def bonus_count(database_url: str, user_id: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(*) from public.transactions where user_id = %s and type = 'signup_bonus'",
            (user_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def me(client: AuthClient) -> dict[str, Any]:
    response = await client.get("/auth/me")
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()["user"]
    return user


# Google ------------------------------------------------------------------------------------------


async def test_google_sign_in_creates_a_verified_user_with_the_signup_bonus_once(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    first = await sign_in_with_google(client)
    again = await sign_in_with_google(client)

    assert outcome(first) == outcome(again) == success()
    assert {ACCESS_COOKIE, "sajtmaskin_refresh"} <= set(first.cookies)
    user = await me(client)
    assert (user["email"], user["provider"], user["emailVerified"], user["diamonds"]) == (
        google.identity.email,
        "google",
        True,
        50,
    )
    assert user["name"] == google.identity.name
    assert bonus_count(database_url, user["id"]) == 1


async def test_a_returning_google_user_is_matched_by_google_id_not_email(
    client: AuthClient, google: FakeGoogle
) -> None:
    await sign_in_with_google(client)
    first = await me(client)
    google.identity.email = new_email()  # changed at Google since

    assert outcome(await sign_in_with_google(client)) == success()
    assert (await me(client))["id"] == first["id"]


async def test_an_email_account_is_linked_when_google_verified_the_address(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    email = await signed_up(client, database_url)
    google.identity = _identity(email=email)

    assert outcome(await sign_in_with_google(client)) == success()
    row = user_row(database_url, email)
    assert row is not None
    assert (row["google_id"], row["provider"], row["diamonds"]) == (
        google.identity.sub,
        "email",
        50,
    )
    assert (await me(client))["id"] == str(row["id"])


async def test_a_password_set_before_the_first_google_sign_in_stops_working(
    client: AuthClient, oauth_settings: Settings, google: FakeGoogle, database_url: str
) -> None:
    # Pre-hijacking: someone registers the victim's address with their own password and signs
    # in once the victim has clicked the verification mail.
    email = await signed_up(client, database_url)
    squatter = (await login(client, email)).json()
    google.identity = _identity(email=email)

    async with new_browser(oauth_settings) as victim:
        assert outcome(await sign_in_with_google(victim)) == success()
        assert (await me(victim))["email"] == email

    assert (await login(client, email)).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refreshToken": squatter["refreshToken"]})
    assert refreshed.status_code == 401
    client.cookies.clear()
    stale = await client.get("/auth/me", headers=bearer(squatter["accessToken"]))
    assert (stale.status_code, stale.json()["code"]) == (401, "session_ended")


async def test_linking_google_while_signed_in_keeps_the_password(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    email = await signed_up(client, database_url)
    assert (await login(client, email)).status_code == 200
    google.identity = _identity(email=email)

    assert outcome(await sign_in_with_google(client)) == success()

    assert (await login(client, email)).status_code == 200


async def test_an_unverified_google_email_never_takes_over_an_account(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    email = await signed_up(client, database_url)
    client.cookies.clear()
    google.identity = _identity(email=email, email_verified=False)

    response = await sign_in_with_google(client)

    assert outcome(response) == failure("email_not_verified")
    assert ACCESS_COOKIE not in response.cookies
    row = user_row(database_url, email)
    assert row is not None
    assert row["google_id"] is None


async def test_an_unverified_google_email_creates_no_account(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    google.identity = _identity(email_verified=False)

    assert outcome(await sign_in_with_google(client)) == failure("email_not_verified")
    assert user_row(database_url, google.identity.email) is None


async def test_linking_an_unverified_registration_drops_its_unproven_password(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    # Someone registered the address first without ever proving they own it.
    email = new_email()
    assert (await register(client, email)).status_code == 201
    google.identity = _identity(email=email)

    assert outcome(await sign_in_with_google(client)) == success()
    row = user_row(database_url, email)
    assert row is not None
    assert (row["email_verified"], row["password_hash"], row["diamonds"]) == (True, None, 50)
    assert (await login(client, email)).status_code == 401


async def test_a_disabled_account_is_not_signed_in_nor_linked(
    client: AuthClient, google: FakeGoogle, database_url: str
) -> None:
    email = await signed_up(client, database_url)
    client.cookies.clear()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("update public.users set disabled_at = now() where email = %s", (email,))
    google.identity = _identity(email=email)

    response = await sign_in_with_google(client)

    assert outcome(response) == failure("account_disabled")
    assert ACCESS_COOKIE not in response.cookies
    row = user_row(database_url, email)
    assert row is not None
    assert row["google_id"] is None


async def test_google_is_sent_a_pkce_challenge_and_given_its_verifier(
    client: AuthClient, google: FakeGoogle
) -> None:
    assert outcome(await sign_in_with_google(client)) == success()

    (authorization,) = google.authorizations
    (token_request,) = google.token_requests
    assert authorization["code_challenge_method"] == "S256"
    assert authorization["scope"] == "openid email profile"
    assert authorization["redirect_uri"] == f"{PUBLIC}/auth/google/callback"
    assert s256(token_request["code_verifier"]) == authorization["code_challenge"]


def forged(state: str) -> str:
    claims = jwt.decode(state, options={"verify_signature": False})
    return jwt.encode(claims, "not-the-state-secret-but-just-as-long!!", "HS256")


def expired(state: str, settings: Settings) -> str:
    claims = jwt.decode(state, options={"verify_signature": False})
    return jwt.encode({**claims, "exp": int(time.time()) - 60}, state_key(settings), "HS256")


def state_key(settings: Settings) -> bytes:
    """The key the service signs OAuth state with (derived from the project secret)."""
    return purpose_key(settings, "oauth-state")


def with_state(callback: str, change: Any) -> str:
    path, _, query = callback.partition("?")
    params = {name: values[0] for name, values in parse_qs(query).items()}
    params["state"] = change(params["state"])
    return f"{path}?{httpx.QueryParams(params)}"


@pytest.mark.parametrize("attack", ["forged", "expired", "another_browser", "no_cookie"])
async def test_a_callback_whose_state_is_not_this_browsers_own_writes_nothing(
    attack: str,
    client: AuthClient,
    oauth_settings: Settings,
    google: FakeGoogle,
    database_url: str,
) -> None:
    callback = await consent(await start(client, "google"))
    async with new_browser(oauth_settings) as victim:
        if attack == "forged":
            response = await client.get(with_state(callback, forged))
        elif attack == "expired":
            response = await client.get(
                with_state(callback, lambda state: expired(state, oauth_settings))
            )
        elif attack == "another_browser":
            # The victim started a flow of its own; the attacker's callback lands in its browser.
            await start(victim, "google")
            response = await victim.get(callback)
        else:
            response = await victim.get(callback)

    assert outcome(response) == failure("invalid_state")
    assert google.token_requests == []
    assert user_row(database_url, google.identity.email) is None


async def test_a_refused_consent_returns_to_the_app_with_the_reason(
    client: AuthClient, google: FakeGoogle
) -> None:
    state = parse_qs(urlsplit(await start(client, "google")).query)["state"][0]

    response = await client.get(
        "/auth/google/callback", params={"error": "access_denied", "state": state}
    )

    assert outcome(response) == failure("access_denied")


async def test_a_guest_signing_in_with_google_keeps_its_work(
    client: AuthClient, database_url: str
) -> None:
    guest = (await client.post("/auth/guest")).json()
    with psycopg.connect(database_url, autocommit=True) as conn:
        site = conn.execute(
            "insert into public.app_projects (session_id, name) values (%s, 'Bageri') returning id",
            (guest["sessionId"],),
        ).fetchone()
    assert site is not None

    assert outcome(await sign_in_with_google(client)) == success()
    with psycopg.connect(database_url) as conn:
        owner = conn.execute(
            "select user_id from public.app_projects where id = %s", (site[0],)
        ).fetchone()
    assert owner is not None
    assert str(owner[0]) == (await me(client))["id"]


@pytest.mark.parametrize("provider", ["google", "github"])
async def test_an_unconfigured_provider_is_not_found(
    provider: str, oauth_settings: Settings, database_url: str
) -> None:
    unconfigured = msgspec.structs.replace(
        oauth_settings, google_client_id=None, github_client_id=None
    )
    async with AsyncTestClient(create_app(unconfigured)) as client:
        # GitHub links an account to a signed-in user, so only one is told what is missing.
        assert (await login(client, await signed_up(client, database_url))).status_code == 200
        response = await client.get(f"/auth/{provider}")
    assert (response.status_code, response.json()["code"]) == (404, "provider_not_configured")


# GitHub ------------------------------------------------------------------------------------------


async def link_github(client: AuthClient) -> httpx.Response:
    return await client.get(await consent(await start(client, "github")))


async def test_a_linked_github_token_is_stored_beyond_the_users_own_reach(
    client: AuthClient, github: FakeGitHub, database_url: str, postgrest_url: str
) -> None:
    email = await signed_up(client, database_url)
    assert (await login(client, email)).status_code == 200

    response = await link_github(client)

    assert outcome(response) == (f"{APP}/settings", {"github": ["linked"]})
    row = user_row(database_url, email)
    assert row is not None
    assert (row["github_id"], row["github_username"]) == ("583231", "octocat")
    assert row["github_token"] == github.issued_tokens[0]
    assert (await me(client))["githubUsername"] == "octocat"
    # The user's own token cannot read the column through the Data API.
    async with httpx.AsyncClient() as data_api:
        read = await data_api.get(
            f"{postgrest_url}/users",
            params={"select": "github_token"},
            headers={"Authorization": f"Bearer {client.cookies[ACCESS_COOKIE]}"},
        )
    assert read.status_code in (401, 403), read.text


async def test_disconnecting_github_forgets_the_account_and_its_token(
    client: AuthClient, database_url: str
) -> None:
    email = await signed_up(client, database_url)
    assert (await login(client, email)).status_code == 200
    assert outcome(await link_github(client))[1] == {"github": ["linked"]}

    response = await client.post("/auth/github/disconnect")

    assert response.status_code == 204
    row = user_row(database_url, email)
    assert row is not None
    assert (row["github_id"], row["github_username"], row["github_token"]) == (None, None, None)
    assert (await me(client))["githubUsername"] is None


async def test_the_oauth_state_and_flow_cookie_are_never_data_api_tokens(
    client: AuthClient, database_url: str, postgrest_url: str
) -> None:
    email = await signed_up(client, database_url)
    assert (await login(client, email)).status_code == 200
    state = parse_qs(urlsplit(await start(client, "github")).query)["state"][0]
    flow_cookie = client.cookies["sajtmaskin_oauth_github"]

    async with httpx.AsyncClient() as data_api:
        reads = [
            await data_api.get(
                f"{postgrest_url}/app_projects",
                params={"select": "id"},
                headers={"Authorization": f"Bearer {token}"},
            )
            for token in (state, flow_cookie)
        ]

    assert [read.status_code for read in reads] == [401, 401]
    assert jwt.decode(state, options={"verify_signature": False}).get("sub") is None


async def test_linking_github_needs_a_signed_in_user(client: AuthClient) -> None:
    assert (await client.get("/auth/github")).status_code == 401
    assert (await client.post("/auth/github/disconnect")).status_code == 401


async def test_a_github_callback_in_another_browser_links_nothing(
    client: AuthClient, oauth_settings: Settings, github: FakeGitHub, database_url: str
) -> None:
    email = await signed_up(client, database_url)
    assert (await login(client, email)).status_code == 200
    callback = await consent(await start(client, "github"))

    async with new_browser(oauth_settings) as other:
        response = await other.get(callback)

    assert outcome(response) == (
        f"{APP}/settings",
        {"github": ["error"], "reason": ["invalid_state"]},
    )
    row = user_row(database_url, email)
    assert row is not None
    assert row["github_token"] is None
    assert github.issued_tokens == []
