"""Access tokens: what they claim, that real PostgREST accepts them, and ES256 with a JWKS."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.testing import AsyncTestClient

from services.auth.app import create_app
from shared.config import Settings
from shared.identity import TokenVerifier
from tests.auth.conftest import AuthClient, login, signed_up
from tests.conftest import JWT_SECRET
from tests.world import bearer

KEY_ID = "sajtmaskin-test-key"


async def test_an_access_token_carries_what_postgrest_needs_for_an_hour(
    auth: AuthClient, database_url: str
) -> None:
    email = await signed_up(auth, database_url)

    body = (await login(auth, email)).json()

    claims = jwt.decode(
        body["accessToken"], JWT_SECRET, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["role"] == "authenticated"
    assert claims["sub"] == body["user"]["id"]
    assert claims["email"] == email
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60


async def test_postgrest_accepts_the_token_and_shows_only_the_users_own_row(
    auth: AuthClient, database_url: str, postgrest_url: str
) -> None:
    email = await signed_up(auth, database_url)
    await signed_up(auth, database_url)  # someone else
    body = (await login(auth, email)).json()

    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{postgrest_url}/users",
            params={"select": "id,email"},
            headers=bearer(body["accessToken"]),
        )

    assert response.status_code == 200
    assert response.json() == [{"id": body["user"]["id"], "email": email}]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            jwt.encode(
                {
                    "role": "authenticated",
                    "aud": "authenticated",
                    "sub": str(uuid.uuid4()),
                    "iat": 1,
                    "exp": 2,
                },
                JWT_SECRET,
                "HS256",
            ),
            id="expired",
        ),
        pytest.param(
            jwt.encode(
                {
                    "role": "authenticated",
                    "aud": "authenticated",
                    "sub": str(uuid.uuid4()),
                    "exp": int(time.time()) + 3600,
                },
                "someone-elses-secret-of-at-least-32-chars",
                "HS256",
            ),
            id="forged",
        ),
        pytest.param(
            jwt.encode(
                {
                    "role": "authenticated",
                    "aud": "authenticated",
                    "sub": str(uuid.uuid4()),
                    "exp": int(time.time()) + 3600,
                },
                "",
                "none",
            ),
            id="alg-none",
        ),
        pytest.param("not.a.jwt", id="garbage"),
    ],
)
async def test_bad_tokens_are_refused(auth: AuthClient, token: str) -> None:
    response = await auth.get("/auth/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_without_a_private_key_there_is_no_jwks(auth: AuthClient) -> None:
    response = await auth.get("/auth/.well-known/jwks.json")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def es256_auth(
    auth_settings: Settings, private_key: ec.EllipticCurvePrivateKey
) -> AsyncIterator[AuthClient]:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings = msgspec.structs.replace(auth_settings, jwt_private_key=pem, jwt_key_id=KEY_ID)
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


async def test_with_a_private_key_tokens_are_es256_and_verify_against_the_served_jwks(
    es256_auth: AuthClient, auth_settings: Settings, database_url: str
) -> None:
    email = await signed_up(es256_auth, database_url)
    token = (await login(es256_auth, email)).json()["accessToken"]

    served = await es256_auth.get("/auth/.well-known/jwks.json")

    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    assert served.status_code == 200
    [key] = served.json()["keys"]
    assert (key["kid"], key["alg"], key["use"], key["crv"]) == (KEY_ID, "ES256", "sig", "P-256")
    assert "d" not in key  # the public half only
    claims = await verified_by_a_service_using_the_jwks(auth_settings, served.json(), token)
    assert claims["email"] == email


async def verified_by_a_service_using_the_jwks(
    settings: Settings, jwks: dict[str, Any], token: str
) -> dict[str, Any]:
    """The claims as another service's `TokenVerifier` sees them, fetching our JWKS over HTTP."""
    url = "https://auth.sajtmaskin.test/auth/.well-known/jwks.json"

    def serve(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == url
        return httpx.Response(200, json=jwks)

    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as http:
        verifier = TokenVerifier(msgspec.structs.replace(settings, jwks_url=url), http)
        return await verifier.verify(token)


async def test_guest_tokens_are_signed_the_same_way(
    es256_auth: AuthClient, private_key: ec.EllipticCurvePrivateKey
) -> None:
    token = (await es256_auth.post("/auth/guest")).json()["accessToken"]

    claims = jwt.decode(token, private_key.public_key(), algorithms=["ES256"])

    assert claims["role"] == "anon"
    assert jwt.get_unverified_header(token)["kid"] == KEY_ID
