"""Registering, verifying the email address and signing in with a password."""

from typing import Any

import httpx
import msgspec
import psycopg
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient

from services.auth.app import create_app
from services.auth.cookies import REFRESH_COOKIE
from services.auth.passwords import HASHER
from services.auth.repo import AuthRepository
from shared.config import Settings
from shared.data.plane import open_data_plane
from shared.identity import ACCESS_COOKIE, service_caller
from tests.auth.conftest import (
    PASSWORD,
    AuthClient,
    emailed_token,
    login,
    new_email,
    register,
    signed_up,
)
from tests.world import bearer


def user_row(database_url: str, email: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url) as conn:
        cursor = conn.execute(
            "select id, email, password_hash, name, diamonds, email_verified, last_login_at,"
            " verification_token_hash from public.users where email = %s",
            (email,),
        )
        row = cursor.fetchone()
        names = [column.name for column in cursor.description or ()]
    return dict(zip(names, row, strict=True)) if row else None


def run_sql(database_url: str, statement: str, *params: object) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement, params)


async def test_a_new_account_signs_in_after_verifying_its_email(
    auth: AuthClient, database_url: str
) -> None:
    email = new_email()

    registered = await register(auth, email)
    verified = await auth.post(
        "/auth/verify-email", json={"token": emailed_token(database_url, email)}
    )
    signed_in = await login(auth, email)
    me = await auth.get("/auth/me", headers=bearer(signed_in.json()["accessToken"]))
    refreshed = await auth.post(
        "/auth/refresh", json={"refreshToken": signed_in.json()["refreshToken"]}
    )
    logged_out = await auth.post(
        "/auth/logout", json={"refreshToken": refreshed.json()["refreshToken"]}
    )
    after_logout = await auth.post(
        "/auth/refresh", json={"refreshToken": refreshed.json()["refreshToken"]}
    )

    assert (registered.status_code, registered.json()) == (
        201,
        {"requiresEmailVerification": True},
    )
    assert (verified.status_code, verified.json()) == (200, {"verified": True})
    assert signed_in.status_code == 200
    assert me.json()["kind"] == "user"
    assert me.json()["user"]["email"] == email
    assert me.json()["user"]["emailVerified"] is True
    assert refreshed.status_code == 200
    assert refreshed.json()["refreshToken"] != signed_in.json()["refreshToken"]
    assert logged_out.status_code == 204
    assert after_logout.status_code == 401


async def test_the_user_answer_never_carries_secrets(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)

    signed_in = await login(auth, email)
    me = await auth.get("/auth/me", headers=bearer(signed_in.json()["accessToken"]))

    assert (
        set(me.json()["user"])
        == set(signed_in.json()["user"])
        == {
            "id",
            "email",
            "name",
            "image",
            "provider",
            "diamonds",
            "tier",
            "emailVerified",
            "githubUsername",
            "createdAt",
        }
    )


async def test_email_is_stored_trimmed_and_lower_case_and_the_password_hashed(
    auth: AuthClient, database_url: str
) -> None:
    email = new_email()

    await auth.post(
        "/auth/register",
        json={"email": f"  {email.upper()} ", "password": PASSWORD, "name": "Ada"},
    )

    row = user_row(database_url, email)
    assert row is not None
    assert row["name"] == "Ada"
    assert row["password_hash"].startswith("$argon2id$")
    assert HASHER.verify(row["password_hash"], PASSWORD)
    # Only the token's SHA-256 is stored, never the token the mail carries.
    assert row["verification_token_hash"] != emailed_token(database_url, email)


async def test_a_registered_email_cannot_register_again(auth: AuthClient) -> None:
    email = new_email()
    await register(auth, email)

    again = await register(auth, email.upper(), password="another password")

    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"


async def test_unverified_accounts_cannot_sign_in(auth: AuthClient) -> None:
    email = new_email()
    await register(auth, email)

    response = await login(auth, email)

    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
    assert "accessToken" not in response.json()


async def test_verifying_grants_the_signup_bonus_exactly_once(
    auth: AuthClient, auth_settings: Settings, database_url: str
) -> None:
    email = new_email()
    await register(auth, email)
    token = emailed_token(database_url, email)

    first = await auth.post("/auth/verify-email", json={"token": token})
    second = await auth.post("/auth/verify-email", json={"token": token})
    row = user_row(database_url, email)
    assert row is not None
    # Google sign-up grants it through the repository; for a verified user that changes nothing.
    async with httpx.AsyncClient() as http:
        plane = await open_data_plane(auth_settings, http)
        try:
            balance = await AuthRepository(plane, service_caller(auth_settings)).grant_signup_bonus(
                row["id"]
            )
        finally:
            await plane.close()

    with psycopg.connect(database_url) as conn:
        bonuses = conn.execute(
            "select amount, balance_after from public.transactions"
            " where user_id = %s and type = 'signup_bonus'",
            (row["id"],),
        ).fetchall()
    assert (first.status_code, second.status_code) == (200, 400)
    assert second.json()["code"] == "invalid_token"
    assert (bonuses, balance, user_row(database_url, email)["diamonds"]) == (  # type: ignore[index]
        [(50, 50)],
        50,
        50,
    )


async def test_the_emailed_link_verifies_and_sends_the_browser_back_to_the_app(
    auth: AuthClient, auth_settings: Settings, database_url: str
) -> None:
    email = new_email()
    await register(auth, email)
    link = f"/auth/verify-email?token={emailed_token(database_url, email)}"

    first = await auth.get(link, follow_redirects=False)
    again = await auth.get(link, follow_redirects=False)

    assert first.status_code == 302
    assert first.headers["location"] == f"{auth_settings.app_base_url}/?verified=success"
    assert again.headers["location"] == (
        f"{auth_settings.app_base_url}/?verified=error&reason=invalid_or_expired"
    )
    assert (await login(auth, email)).status_code == 200


async def test_an_expired_verification_link_does_not_verify(
    auth: AuthClient, database_url: str
) -> None:
    email = new_email()
    await register(auth, email)
    run_sql(
        database_url,
        "update public.users set verification_expires_at = now() - interval '1 second'"
        " where email = %s",
        email,
    )

    response = await auth.post(
        "/auth/verify-email", json={"token": emailed_token(database_url, email)}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


async def test_resending_answers_the_same_for_unknown_addresses_and_replaces_the_link(
    auth: AuthClient, database_url: str
) -> None:
    email = new_email()
    await register(auth, email)
    first_token = emailed_token(database_url, email)

    known = await auth.post("/auth/resend-verification", json={"email": email})
    unknown = await auth.post("/auth/resend-verification", json={"email": new_email()})
    new_token = emailed_token(database_url, email)

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    assert new_token != first_token
    assert (await auth.post("/auth/verify-email", json={"token": first_token})).status_code == 400
    assert (await auth.post("/auth/verify-email", json={"token": new_token})).status_code == 200


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)

    wrong_password = await login(auth, email, password="not the password")
    unknown_email = await login(auth, new_email())

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["code"] == "invalid_credentials"


async def test_disabled_accounts_cannot_sign_in(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)
    run_sql(database_url, "update public.users set disabled_at = now() where email = %s", email)

    with_password = await login(auth, email)
    without_password = await login(auth, email, password="not the password")

    assert with_password.status_code == 403
    assert with_password.json()["code"] == "account_disabled"
    # Someone without the password learns nothing about the account.
    assert without_password.json()["code"] == "invalid_credentials"


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_sign_in(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    run_sql(
        database_url, "update public.users set password_hash = %s where email = %s", weak, email
    )

    response = await login(auth, email)

    stored = user_row(database_url, email)["password_hash"]  # type: ignore[index]
    assert response.status_code == 200
    assert stored != weak
    assert not HASHER.check_needs_rehash(stored)
    assert HASHER.verify(stored, PASSWORD)


async def test_signing_in_records_the_time(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)

    await login(auth, email)

    assert user_row(database_url, email)["last_login_at"] is not None  # type: ignore[index]


async def test_a_corrupt_stored_hash_is_a_wrong_password_not_an_error(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    run_sql(
        database_url, "update public.users set password_hash = 'garbage' where email = %s", email
    )

    response = await login(auth, email)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_tokens_also_arrive_as_http_only_cookies(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)

    response = await login(auth, email)

    cookies = {
        header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")
    }
    access, refresh = cookies[ACCESS_COOKIE], cookies[REFRESH_COOKIE]
    assert response.json()["accessToken"] in access
    assert response.json()["refreshToken"] in refresh
    for cookie in (access, refresh):
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # COOKIE_SECURE=false in these tests
    assert "Path=/auth" in refresh
    assert "Path=/;" in access


async def test_cookies_are_secure_by_default(auth_settings: Settings) -> None:
    settings = msgspec.structs.replace(auth_settings, cookie_secure=True)
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.post("/auth/guest")

    assert "Secure" in response.headers["set-cookie"]
