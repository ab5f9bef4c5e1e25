"""Forgotten passwords: an emailed one-time link sets a new one and signs out every session."""

import psycopg

from tests.auth.conftest import PASSWORD, AuthClient, emailed_token, login, new_email, signed_up

NEW_PASSWORD = "a brand new passphrase"


async def forgot(auth: AuthClient, database_url: str, email: str) -> str:
    """Ask for a reset link; the token the mail carries."""
    response = await auth.post("/auth/password/forgot", json={"email": email})
    assert response.status_code == 202
    return emailed_token(database_url, email)


async def test_the_emailed_token_sets_a_new_password(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)
    token = await forgot(auth, database_url, email)

    response = await auth.post(
        "/auth/password/reset", json={"token": token, "password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert (await login(auth, email, password=PASSWORD)).status_code == 401
    assert (await login(auth, email, password=NEW_PASSWORD)).status_code == 200


async def test_the_link_points_at_the_app(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)
    await forgot(auth, database_url, email)

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select body_text from public.email_outbox where to_address = %s"
            " order by created_at desc limit 1",
            (email,),
        ).fetchone()

    assert row is not None
    assert "http://127.0.0.1:3000/reset-password?token=" in row[0]


async def test_resetting_signs_out_every_session(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)
    sessions = [(await login(auth, email)).json()["refreshToken"] for _ in range(2)]
    token = await forgot(auth, database_url, email)

    await auth.post("/auth/password/reset", json={"token": token, "password": NEW_PASSWORD})

    for refresh_token in sessions:
        response = await auth.post("/auth/refresh", json={"refreshToken": refresh_token})
        assert response.status_code == 401


async def test_a_reset_token_works_once(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)
    token = await forgot(auth, database_url, email)
    await auth.post("/auth/password/reset", json={"token": token, "password": NEW_PASSWORD})

    again = await auth.post("/auth/password/reset", json={"token": token, "password": PASSWORD})

    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"
    assert (await login(auth, email, password=NEW_PASSWORD)).status_code == 200


async def test_an_expired_or_unknown_token_is_refused(auth: AuthClient, database_url: str) -> None:
    email = await signed_up(auth, database_url)
    token = await forgot(auth, database_url, email)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "update public.password_reset_tokens set expires_at = now() - interval '1 second'"
            " where user_id = (select id from public.users where email = %s)",
            (email,),
        )

    expired = await auth.post(
        "/auth/password/reset", json={"token": token, "password": NEW_PASSWORD}
    )
    unknown = await auth.post(
        "/auth/password/reset", json={"token": "made-up", "password": NEW_PASSWORD}
    )

    assert (expired.status_code, unknown.status_code) == (400, 400)
    assert (await login(auth, email)).status_code == 200


async def test_unknown_addresses_get_the_same_answer_and_no_mail(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    stranger = new_email()

    known = await auth.post("/auth/password/forgot", json={"email": email})
    unknown = await auth.post("/auth/password/forgot", json={"email": stranger})

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    with psycopg.connect(database_url) as conn:
        mails = conn.execute(
            "select count(*) from public.email_outbox where to_address = %s", (stranger,)
        ).fetchone()
    assert mails == (0,)


async def test_an_older_reset_link_stops_working_once_the_password_changes(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)
    older = await forgot(auth, database_url, email)
    newer = await forgot(auth, database_url, email)
    await auth.post("/auth/password/reset", json={"token": newer, "password": NEW_PASSWORD})

    stale = await auth.post(
        "/auth/password/reset", json={"token": older, "password": "whoever read that mail"}
    )

    assert (stale.status_code, stale.json()["code"]) == (400, "invalid_token")
    assert (await login(auth, email, password=NEW_PASSWORD)).status_code == 200
