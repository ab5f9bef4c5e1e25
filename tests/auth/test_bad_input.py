"""Bad requests get a 4xx problem naming what is wrong, and write nothing."""

from typing import Any

import psycopg
import pytest

from tests.auth.conftest import PASSWORD, AuthClient, new_email

JSON = {"content-type": "application/json"}


def registration_attempts(email: str) -> list[Any]:
    """(request keyword arguments, status, code, invalid field) for registering `email` badly."""
    return [
        (
            {"content": b'{"email": "' + email.encode() + b'", ', "headers": JSON},
            400,
            "bad_request",
            None,
        ),
        ({"json": {"email": email}}, 422, "validation_failed", "password"),
        ({"json": {"password": PASSWORD}}, 422, "validation_failed", "email"),
        ({"json": {"email": email, "password": "short"}}, 422, "validation_failed", "password"),
        ({"json": {"email": email, "password": "x" * 1025}}, 422, "validation_failed", "password"),
        (
            {"json": {"email": email, "password": PASSWORD, "name": "n" * 201}},
            422,
            "validation_failed",
            "name",
        ),
        ({"json": {"email": email, "password": 12345678}}, 422, "validation_failed", "password"),
        ({"json": [email, PASSWORD]}, 422, "validation_failed", None),
        ({"content": b"", "headers": JSON}, 422, "validation_failed", None),
        ({"data": {"email": email, "password": PASSWORD}}, 415, "unsupported_media_type", None),
        (
            {
                "content": f'{{"email": "{email}", "password": "{PASSWORD}"}}'.encode(),
                "headers": {"content-type": "text/plain"},
            },
            415,
            "unsupported_media_type",
            None,
        ),
    ]


@pytest.mark.parametrize("attempt", range(len(registration_attempts("x"))))
async def test_a_bad_registration_is_refused_and_writes_nothing(
    auth: AuthClient, database_url: str, attempt: int
) -> None:
    email = new_email()
    request, status, code, field = registration_attempts(email)[attempt]

    response = await auth.post("/auth/register", **request)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    if field is not None:
        assert [error["field"] for error in response.json()["errors"]] == [field]
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "select count(*) from public.users where email = %s", (email,)
        ).fetchone() == (0,)


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "two@@example.com",
        "spaces in@example.com",
        "no-domain@",
        "no-dot@example",
        "short-tld@example.c",
        f"{'a' * 250}@example.com",
        "",
    ],
)
async def test_invalid_email_addresses_are_refused(auth: AuthClient, email: str) -> None:
    response = await auth.post("/auth/register", json={"email": email, "password": PASSWORD})

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["email"]
    assert "regex" not in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/login", {"email": "someone@example.com"}),
        ("/auth/verify-email", {"token": ""}),
        ("/auth/verify-email", {"token": "t" * 513}),
        ("/auth/resend-verification", {"email": "nobody"}),
        ("/auth/password/forgot", {}),
        ("/auth/password/reset", {"token": "t", "password": "short"}),
        ("/auth/refresh", {"refreshToken": 42}),
    ],
)
async def test_every_endpoint_names_the_invalid_field(
    auth: AuthClient, path: str, body: dict[str, Any]
) -> None:
    response = await auth.post(path, json=body)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert response.json()["errors"][0]["field"] is not None


async def test_a_field_the_api_does_not_take_is_refused_by_name(
    auth: AuthClient, database_url: str
) -> None:
    email = new_email()

    response = await auth.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "diamonds": 9999}
    )

    assert (response.status_code, response.json()["code"]) == (422, "validation_failed")
    assert [error["field"] for error in response.json()["errors"]] == ["diamonds"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "select count(*) from public.users where email = %s", (email,)
        ).fetchone() == (0,)


async def test_every_invalid_field_is_reported_at_once(auth: AuthClient) -> None:
    response = await auth.post(
        "/auth/register",
        json={"email": "not-an-email", "password": "short", "name": 7, "tier": "admin"},
    )

    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"email", "password", "name", "tier"}


async def test_a_deeply_nested_body_is_a_bad_request_not_a_crash(auth: AuthClient) -> None:
    response = await auth.post("/auth/login", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)

    assert (response.status_code, response.json()["code"]) == (400, "bad_request")
