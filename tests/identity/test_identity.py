"""A request's bearer token (or apikey) becomes the right caller, or a 401 — as PostgREST decides.

Real crypto throughout: HS256 with the project secret, ES256/RS256 keys generated here and served
from a JWKS endpoint faked at the HTTP boundary.
"""

import asyncio
import base64
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
import jwt
import pytest
import pytest_asyncio

from shared.config import Settings
from shared.errors import InvalidToken, Problem, ServiceUnavailable, Unauthorized
from shared.identity import (
    ANONYMOUS,
    JWKS_MAX_AGE_S,
    JWKS_REFETCH_COOLDOWN_S,
    JWKS_RETRY_AFTER_FAILURE_S,
    LEEWAY_S,
    TokenVerifier,
)
from tests.fakes.jwks import JWKS_URL, Failure, FakeJwksEndpoint, SigningKey

SECRET = "sajtmaskin-test-jwt-secret-of-32-chars-or-more"
USER_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
GUEST_SESSION = "sess_00000000-0000-4000-8000-0000000005e5"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, "HS256")


def user_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "role": "authenticated",
        "sub": str(USER_ID),
        "aud": "authenticated",
        "iat": now,
        "exp": now + 3600,
    }
    return {**claims, **overrides}


def anon_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"role": "anon", "iat": now, "exp": now + 3600, **overrides}


def hand_signed(header: dict[str, Any], claims: dict[str, Any], signature: bytes) -> str:
    """A compact JWT assembled byte by byte, for tokens no honest library would produce."""

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{segment(json.dumps(header).encode())}.{segment(json.dumps(claims).encode())}"
    return f"{signing_input}.{segment(signature)}"


def hmac_signed(
    header: dict[str, Any], claims: dict[str, Any], secret: bytes, digest: str = "sha256"
) -> str:
    unsigned = hand_signed(header, claims, b"").rstrip(".")
    signature = hmac.new(secret, unsigned.encode(), digest).digest()
    return hand_signed(header, claims, signature)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "jwks_url": JWKS_URL,
        "supabase_anon_key": "sb_publishable_test-anon-key",
        **overrides,
    }
    return Settings(**values)


async def rejection(verifier: TokenVerifier, authorization: str) -> Problem:
    with pytest.raises(Problem) as raised:
        await verifier.caller(authorization)
    return raised.value


@pytest.fixture(scope="module")
def es256_key() -> SigningKey:
    return SigningKey.generate("es-key-1", "ES256")


@pytest.fixture(scope="module")
def rs256_key() -> SigningKey:
    return SigningKey.generate("rs-key-1", "RS256")


@pytest.fixture
def jwks(es256_key: SigningKey, rs256_key: SigningKey) -> FakeJwksEndpoint:
    return FakeJwksEndpoint([es256_key, rs256_key])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def http(jwks: FakeJwksEndpoint) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=jwks.transport) as client:
        yield client


@pytest.fixture
def verifier(http: httpx.AsyncClient, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(settings(), http, clock=clock)


# --- who the caller is ---------------------------------------------------------------------


async def test_user_token_identifies_the_user(verifier: TokenVerifier) -> None:
    # given a user's HS256 access token
    token = hs256(user_claims())
    # when it arrives as a bearer token
    caller = await verifier.caller(f"Bearer {token}")
    # then the caller is that user, and the token is kept to forward to PostgREST
    assert (caller.kind, caller.user_id, caller.token) == ("user", USER_ID, token)


@pytest.mark.parametrize("key_name", ["es256_key", "rs256_key"])
async def test_user_token_signed_with_a_published_key_identifies_the_user(
    verifier: TokenVerifier, key_name: str, request: pytest.FixtureRequest
) -> None:
    # given a user token signed with an asymmetric key the JWKS publishes
    key: SigningKey = request.getfixturevalue(key_name)
    token = key.sign(user_claims())
    # when it arrives
    caller = await verifier.caller(f"Bearer {token}")
    # then the caller is that user
    assert (caller.kind, caller.user_id) == ("user", USER_ID)


async def test_guest_token_identifies_the_guest_session(verifier: TokenVerifier) -> None:
    # given a guest token: role anon with a signed guest_session claim
    token = hs256(anon_claims(guest_session=GUEST_SESSION))
    # when it arrives
    caller = await verifier.caller(f"Bearer {token}")
    # then the caller is that guest
    assert (caller.kind, caller.guest_session, caller.user_id) == ("guest", GUEST_SESSION, None)


async def test_service_role_token_identifies_the_service(verifier: TokenVerifier) -> None:
    # given a service-role key (Supabase's legacy keys carry no aud)
    token = hs256({"role": "service_role", "iss": "supabase", "exp": int(time.time()) + 3600})
    # when it arrives
    caller = await verifier.caller(f"Bearer {token}")
    # then the caller is the service role
    assert (caller.kind, caller.role) == ("service", "service_role")


async def test_anon_role_token_without_guest_claim_is_an_anonymous_caller(
    verifier: TokenVerifier,
) -> None:
    # given a legacy anon key JWT (role anon, no guest claim) that isn't the configured key
    token = hs256({"role": "anon", "iss": "supabase", "exp": int(time.time()) + 3600})
    # when it arrives as the only credential, in the apikey header
    caller = await verifier.caller(None, apikey=token)
    # then the caller is anonymous: no user, no guest session
    assert (caller.kind, caller.user_id, caller.guest_session) == ("anon", None, None)


async def test_configured_anon_key_alone_gives_the_anonymous_caller(
    verifier: TokenVerifier,
) -> None:
    # given the project's publishable anon key, which is not a JWT
    # when it is the only credential
    caller = await verifier.caller(None, apikey="sb_publishable_test-anon-key")
    # then the caller is ANONYMOUS
    assert caller == ANONYMOUS


async def test_request_without_credentials_is_anonymous(verifier: TokenVerifier) -> None:
    assert await verifier.caller(None) == ANONYMOUS


async def test_authorization_header_wins_over_apikey(verifier: TokenVerifier) -> None:
    # given the anon key in apikey and a user's token in Authorization (what supabase-js sends)
    token = hs256(user_claims())
    # when both arrive
    caller = await verifier.caller(f"Bearer {token}", apikey="sb_publishable_test-anon-key")
    # then the user is the caller
    assert caller.kind == "user"


async def test_bearer_scheme_is_case_insensitive(verifier: TokenVerifier) -> None:
    caller = await verifier.caller(f"bEaReR {hs256(user_claims())}")
    assert caller.kind == "user"


async def test_clock_skew_within_30_seconds_is_tolerated(verifier: TokenVerifier) -> None:
    # given a token that expired 20 s ago and was issued 20 s "in the future" by a fast clock
    now = int(time.time())
    token = hs256(user_claims(exp=now - 20, iat=now + 20, nbf=now + 20))
    # when it arrives
    caller = await verifier.caller(f"Bearer {token}")
    # then it is accepted, as PostgREST would
    assert caller.kind == "user"


# --- claims that make a token invalid ----------------------------------------------------


@pytest.mark.parametrize(
    ("case", "make_claims"),
    [
        ("expired beyond skew", lambda: user_claims(exp=int(time.time()) - LEEWAY_S - 5)),
        ("not yet valid", lambda: user_claims(nbf=int(time.time()) + LEEWAY_S + 60)),
        ("issued in the future", lambda: user_claims(iat=int(time.time()) + LEEWAY_S + 60)),
        ("no exp", lambda: {k: v for k, v in user_claims().items() if k != "exp"}),
        ("wrong audience", lambda: user_claims(aud="someone-else")),
        ("user without audience", lambda: {k: v for k, v in user_claims().items() if k != "aud"}),
        ("guest with a foreign audience", lambda: anon_claims(aud="someone-else")),
        ("role outside the three", lambda: user_claims(role="postgres")),
        ("admin role", lambda: user_claims(role="supabase_admin")),
        ("no role", lambda: {k: v for k, v in user_claims().items() if k != "role"}),
        ("user without sub", lambda: {k: v for k, v in user_claims().items() if k != "sub"}),
        ("user with non-uuid sub", lambda: user_claims(sub="admin")),
        ("guest session not sess_<uuid>", lambda: anon_claims(guest_session="sess_123")),
        ("guest session without prefix", lambda: anon_claims(guest_session=str(uuid.uuid4()))),
        ("guest session not a string", lambda: anon_claims(guest_session=["sess_x"])),
    ],
)
async def test_token_with_invalid_claims_is_rejected(
    verifier: TokenVerifier, case: str, make_claims: Callable[[], dict[str, Any]]
) -> None:
    # given a correctly signed token whose claims are wrong, made now (not at collection)
    claims = make_claims()
    # when it arrives
    problem = await rejection(verifier, f"Bearer {hs256(claims)}")
    # then it is a 401 invalid_token
    assert (problem.status, problem.code) == (401, "invalid_token"), case


# --- signatures and algorithms -----------------------------------------------------------


async def test_token_signed_with_another_secret_is_rejected(verifier: TokenVerifier) -> None:
    token = hs256(user_claims(), secret="an-attackers-own-secret-of-32-chars-or-more")
    problem = await rejection(verifier, f"Bearer {token}")
    assert (problem.status, problem.code) == (401, "invalid_token")


async def test_token_forged_under_a_published_kid_is_rejected(
    verifier: TokenVerifier, es256_key: SigningKey
) -> None:
    # given an attacker's own ES256 key, signing a token that names the published kid
    forger = SigningKey.generate("attacker", "ES256")
    token = forger.sign(user_claims(), kid=es256_key.kid)
    # when it arrives, then its signature does not verify
    problem = await rejection(verifier, f"Bearer {token}")
    assert (problem.status, problem.code) == (401, "invalid_token")


@pytest.mark.parametrize(
    "token",
    [
        hand_signed({"alg": "none", "typ": "JWT"}, user_claims(), b""),
        hand_signed({"alg": "None"}, user_claims(), b""),
        hmac_signed({"alg": "HS512"}, user_claims(), SECRET.encode(), "sha512"),
        hmac_signed({"alg": "HS384"}, user_claims(), SECRET.encode(), "sha384"),
    ],
    ids=["alg none", "alg None", "HS512 with the right secret", "HS384 with the right secret"],
)
async def test_algorithm_outside_the_allowlist_is_rejected(
    verifier: TokenVerifier, token: str
) -> None:
    problem = await rejection(verifier, f"Bearer {token}")
    assert (problem.status, problem.code) == (401, "invalid_token")


@pytest.mark.parametrize("secret_configured", [False, True])
async def test_hs256_token_signed_with_the_public_key_is_rejected(
    http: httpx.AsyncClient,
    clock: FakeClock,
    es256_key: SigningKey,
    secret_configured: bool,
) -> None:
    # given the algorithm-confusion attack: HMAC over the token keyed with the *public* key,
    # naming that key's kid, against a verifier with the JWKS (and maybe also a secret)
    verifier = TokenVerifier(
        settings(jwt_secret=SECRET if secret_configured else None), http, clock=clock
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": es256_key.kid}
    forgeries = [
        hmac_signed(header, user_claims(), es256_key.public_pem),
        hmac_signed(header, user_claims(), json.dumps(es256_key.jwk).encode()),
    ]
    # when the forgeries arrive, then each is refused
    for token in forgeries:
        problem = await rejection(verifier, f"Bearer {token}")
        assert (problem.status, problem.code) == (401, "invalid_token")


async def test_token_whose_algorithm_does_not_match_its_key_is_rejected(
    verifier: TokenVerifier, rs256_key: SigningKey
) -> None:
    # given an ES256 token naming the kid of the published RSA key
    token = SigningKey.generate("other", "ES256").sign(user_claims(), kid=rs256_key.kid)
    problem = await rejection(verifier, f"Bearer {token}")
    assert (problem.status, problem.code) == (401, "invalid_token")


async def test_asymmetric_token_without_kid_is_rejected(
    verifier: TokenVerifier, es256_key: SigningKey
) -> None:
    token = jwt.encode(user_claims(), es256_key.private_key, "ES256")
    problem = await rejection(verifier, f"Bearer {token}")
    assert (problem.status, problem.code) == (401, "invalid_token")


async def test_verifier_without_jwks_rejects_asymmetric_tokens(
    http: httpx.AsyncClient, jwks: FakeJwksEndpoint, es256_key: SigningKey
) -> None:
    verifier = TokenVerifier(settings(jwks_url=None), http)
    problem = await rejection(verifier, f"Bearer {es256_key.sign(user_claims())}")
    assert (problem.status, problem.code, jwks.requests) == (401, "invalid_token", 0)


# --- the JWKS: caching, rotation, outages ------------------------------------------------


async def test_published_keys_are_fetched_once_for_many_tokens(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, rs256_key: SigningKey
) -> None:
    # given tokens from both published keys
    tokens = [key.sign(user_claims(jti=str(n))) for n in range(5) for key in (es256_key, rs256_key)]
    # when they all arrive
    for token in tokens:
        await verifier.caller(f"Bearer {token}")
    # then the JWKS was fetched once
    assert jwks.requests == 1


async def test_unknown_kid_after_rotation_is_fetched_and_accepted(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, clock: FakeClock
) -> None:
    # given a verifier that has fetched the JWKS, which then rotates in a new key
    await verifier.caller(f"Bearer {es256_key.sign(user_claims())}")
    rotated = SigningKey.generate("es-key-2", "ES256")
    jwks.keys = [rotated, es256_key]
    clock.advance(JWKS_REFETCH_COOLDOWN_S)
    # when a token signed with the new key arrives
    caller = await verifier.caller(f"Bearer {rotated.sign(user_claims())}")
    # then the JWKS is refetched and the token accepted
    assert (caller.kind, jwks.requests) == ("user", 2)


async def test_unknown_kids_within_the_cooldown_fetch_the_jwks_only_once(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, clock: FakeClock
) -> None:
    # given a verifier that has just fetched the JWKS
    await verifier.caller(f"Bearer {es256_key.sign(user_claims())}")
    # when tokens naming unknown kids keep arriving within the cooldown
    for n in range(2):
        clock.advance(JWKS_REFETCH_COOLDOWN_S / 3)
        forged = es256_key.sign(user_claims(), kid=f"forged-{n}")
        problem = await rejection(verifier, f"Bearer {forged}")
        assert (problem.status, problem.code) == (401, "invalid_token")
    # then the endpoint was asked once in all
    assert jwks.requests == 1


async def test_concurrent_tokens_with_a_new_kid_share_one_fetch(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey
) -> None:
    tokens = [es256_key.sign(user_claims(jti=str(n))) for n in range(10)]
    callers = await asyncio.gather(*(verifier.caller(f"Bearer {token}") for token in tokens))
    assert ({caller.kind for caller in callers}, jwks.requests) == ({"user"}, 1)


@pytest.mark.parametrize("failure", ["unreachable", "server_error", "not_json"])
async def test_jwks_endpoint_down_is_a_503_not_a_401(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, failure: Failure
) -> None:
    # given a JWKS endpoint that fails
    jwks.failure = failure
    # when a token that may well be valid arrives
    with pytest.raises(ServiceUnavailable) as raised:
        await verifier.caller(f"Bearer {es256_key.sign(user_claims())}")
    # then the caller is told to retry, not that the token is bad
    problem = raised.value
    assert (problem.status, problem.code, problem.headers["Retry-After"]) == (
        503,
        "service_unavailable",
        str(int(JWKS_RETRY_AFTER_FAILURE_S)),
    )


async def test_jwks_outage_is_retried_after_a_short_pause(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, clock: FakeClock
) -> None:
    # given a JWKS endpoint that was down at the first token
    jwks.failure = "unreachable"
    token = f"Bearer {es256_key.sign(user_claims())}"
    with pytest.raises(ServiceUnavailable):
        await verifier.caller(token)
    with pytest.raises(ServiceUnavailable):
        await verifier.caller(token)
    # when it recovers and the retry pause has passed
    jwks.failure = None
    clock.advance(JWKS_RETRY_AFTER_FAILURE_S)
    caller = await verifier.caller(token)
    # then the token is accepted; the endpoint was not retried during the pause
    assert (caller.kind, jwks.requests) == ("user", 2)


async def test_known_keys_keep_working_while_the_jwks_cannot_be_refreshed(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, clock: FakeClock
) -> None:
    # given fetched keys that have grown old while the endpoint went down
    await verifier.caller(f"Bearer {es256_key.sign(user_claims())}")
    clock.advance(JWKS_MAX_AGE_S)
    jwks.failure = "unreachable"
    # when a new token from a known key arrives
    caller = await verifier.caller(f"Bearer {es256_key.sign(user_claims(jti='new'))}")
    # then it verifies with the stale key (the refresh was attempted)
    assert (caller.kind, jwks.requests) == ("user", 2)


async def test_key_removed_from_the_jwks_stops_verifying_once_the_keys_are_refreshed(
    verifier: TokenVerifier, jwks: FakeJwksEndpoint, es256_key: SigningKey, clock: FakeClock
) -> None:
    # given a key that was revoked (removed from the JWKS) after the verifier fetched it
    await verifier.caller(f"Bearer {es256_key.sign(user_claims())}")
    jwks.keys = [key for key in jwks.keys if key.kid != es256_key.kid]
    # when the fetched keys reach their maximum age and a new token from that key arrives
    clock.advance(JWKS_MAX_AGE_S)
    problem = await rejection(verifier, f"Bearer {es256_key.sign(user_claims(jti='new'))}")
    # then it is refused
    assert (problem.status, problem.code) == (401, "invalid_token")


# --- the header itself and the verification cache ---------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Basic dXNlcjpwYXNz", "unauthorized"),
        ("Bearer", "unauthorized"),
        ("Bearer   ", "unauthorized"),
        ("", "unauthorized"),
        ("garbage", "unauthorized"),
        ("Token abc.def.ghi", "unauthorized"),
        ("Bearer garbage", "invalid_token"),
        ("Bearer a.b.c", "invalid_token"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "invalid_token"),
    ],
)
async def test_malformed_authorization_header_is_a_401_with_a_stable_code(
    verifier: TokenVerifier, authorization: str, code: Literal["unauthorized", "invalid_token"]
) -> None:
    problem = await rejection(verifier, authorization)
    assert isinstance(problem, Unauthorized)
    assert (problem.status, problem.code) == (401, code)


async def test_rejection_never_echoes_the_token(verifier: TokenVerifier) -> None:
    # given a forged token
    token = hs256(user_claims(), secret="an-attackers-own-secret-of-32-chars-or-more")
    # when it is refused
    with pytest.raises(InvalidToken) as raised:
        await verifier.verify(token)
    # then neither the problem document nor the message contains any part of it
    rendered = json.dumps(raised.value.body()) + str(raised.value)
    assert not any(part in rendered for part in token.split("."))


async def test_verified_token_is_refused_once_it_expires(verifier: TokenVerifier) -> None:
    # given a token verified while it is within its last second of validity (skew included)
    exp = int(time.time() + 1.5) - LEEWAY_S
    token = hs256(user_claims(exp=exp))
    assert (await verifier.caller(f"Bearer {token}")).kind == "user"
    # when it is presented again after it expired
    await asyncio.sleep(exp + LEEWAY_S + 0.05 - time.time())
    problem = await rejection(verifier, f"Bearer {token}")
    # then the remembered verification does not outlive the token
    assert (problem.status, problem.code) == (401, "invalid_token")
