"""Who is calling: a verified JWT (or none) turned into a `Caller`, checked as PostgREST checks it.

Users are `role=authenticated` with a uuid `sub` and our audience; guests are `role=anon` with a
signed `guest_session` claim (`sess_<uuid>`); the anon key alone is the anonymous caller; the
service role is `role=service_role`. HS256 tokens verify with the project's JWT secret, ES256 and
RS256 tokens with the JWKS key their `kid` names; no other algorithm is accepted.
"""

import asyncio
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast, get_args

import httpx
import jwt
import msgspec
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from litestar import Request

from shared.config import Settings
from shared.errors import InvalidToken, Problem, ServiceUnavailable, Unauthorized

Role = Literal["anon", "authenticated", "service_role"]
CallerKind = Literal["anon", "guest", "user", "service"]

ROLES: frozenset[str] = frozenset(get_args(Role))
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "RS256"})
ALGORITHMS = ASYMMETRIC_ALGORITHMS | {"HS256"}

LEEWAY_S = 30
"""Clock skew allowed on exp, nbf and iat: PostgREST's `allowedSkewSeconds`."""

JWKS_REFETCH_COOLDOWN_S = 30.0
"""At most one JWKS fetch per this many seconds, so forged `kid`s cannot hammer the endpoint."""

JWKS_RETRY_AFTER_FAILURE_S = 5.0
"""After a failed JWKS fetch, how long until the next attempt (and the 503's Retry-After)."""

JWKS_MAX_AGE_S = 600.0
"""A fetched JWKS is refreshed after this long, so revoked keys stop verifying (Supabase's own
clients cache it for 10 minutes)."""

VERIFIED_TOKENS_CACHED = 1024
"""How many recently verified tokens keep their claims, sparing a client's repeat requests."""

logger = structlog.stdlib.get_logger(__name__)


class Caller(msgspec.Struct, frozen=True):
    """The verified identity of a request, and the token to forward to PostgREST on its behalf."""

    role: Role
    claims: dict[str, Any]
    """The verified claims, always including "role"."""
    token: str | None
    """The verified bearer token; None when the request carried none (or only the anon key)."""

    @property
    def user_id(self) -> uuid.UUID | None:
        """The user's id (`sub`), for role authenticated only."""
        if self.role != "authenticated":
            return None
        return _canonical_uuid(self.claims.get("sub"))

    @property
    def guest_session(self) -> str | None:
        """The guest's `sess_<uuid>` session id, for role anon only."""
        if self.role != "anon":
            return None
        session = self.claims.get("guest_session")
        return session if _is_guest_session(session) else None

    @property
    def kind(self) -> CallerKind:
        if self.role == "service_role":
            return "service"
        if self.role == "authenticated":
            return "user"
        return "guest" if self.guest_session else "anon"


ANONYMOUS = Caller(role="anon", claims={"role": "anon"}, token=None)

# Browsers carry the access token (a user's or a guest's) in this HttpOnly cookie; API clients
# send `Authorization: Bearer`, which wins when both are present.
ACCESS_COOKIE = "sajtmaskin_access"


def service_caller(settings: Settings) -> Caller:
    """The service role, for server paths that have no user (reviewed uses only): webhooks,
    workers, credential look-ups. On the postgrest plane it needs SUPABASE_SERVICE_ROLE_KEY."""
    if settings.data_plane == "postgrest" and not settings.supabase_service_role_key:
        raise ValueError("the service role needs SUPABASE_SERVICE_ROLE_KEY on the postgrest plane")
    return Caller(
        role="service_role",
        claims={"role": "service_role"},
        token=settings.supabase_service_role_key,
    )


def own_public_jwk(settings: Settings) -> dict[str, Any] | None:
    """The public half of JWT_PRIVATE_KEY as a JWK (ES256, `kid` = JWT_KEY_ID); None without."""
    if not settings.jwt_private_key:
        return None
    private = serialization.load_pem_private_key(settings.jwt_private_key.encode(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("JWT_PRIVATE_KEY must be an EC P-256 private key (ES256)")
    public: dict[str, Any] = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**public, "kid": settings.jwt_key_id, "alg": "ES256", "use": "sig"}


def presented_authorization(authorization: str | None, access_cookie: str | None) -> str | None:
    """The Authorization header value to verify: the header itself, else the access cookie."""
    if authorization is not None:
        return authorization
    return f"Bearer {access_cookie}" if access_cookie else None


CALLER_STATE = "sajtmaskin.caller"


async def request_caller(request: Request[Any, Any, Any]) -> Caller:
    """The request's verified caller, from its Authorization header, else its access cookie, and
    its `apikey`; raises the token's 401. Resolved once per request (the rate limiter and the
    `caller` dependency both ask) and remembered in the request's state, failure included."""
    remembered: Caller | Problem | None = request.state.get(CALLER_STATE)
    if remembered is None:
        verifier: TokenVerifier = request.app.state.verifier
        authorization = presented_authorization(
            request.headers.get("authorization"), request.cookies.get(ACCESS_COOKIE)
        )
        try:
            remembered = await verifier.caller(authorization, request.headers.get("apikey"))
        except Problem as problem:
            remembered = problem
        request.state[CALLER_STATE] = remembered
    if isinstance(remembered, Problem):
        raise remembered
    return remembered


def remembered_caller_kind(
    scope_state: Mapping[str, Any],
) -> CallerKind | Literal["refused"] | None:
    """For the access line: the kind of caller a request was served as, `refused` when its token
    was, None when nothing asked who called (e.g. `/health`)."""
    remembered: Caller | Problem | None = scope_state.get(CALLER_STATE)
    if remembered is None:
        return None
    return "refused" if isinstance(remembered, Problem) else remembered.kind


class TokenVerifier:
    """Verifies bearer tokens against the configured JWT secret and JWKS; one per process."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` times the JWKS cooldowns; tests pass a fake one. Token times use wall time."""
        self._secret = settings.jwt_secret
        self._audience = settings.jwt_audience
        self._anon_key = settings.supabase_anon_key
        self._signing_keys = (
            _SigningKeys(settings.jwks_url, http, settings.http_timeout_s, clock)
            if settings.jwks_url
            else None
        )
        # Tokens this deployment signs itself (ES256 with JWT_PRIVATE_KEY) need no JWKS round trip.
        own = own_public_jwk(settings)
        self._own_key = (settings.jwt_key_id, jwt.PyJWK(own)) if own else None
        self._verified = _VerifiedTokens(VERIFIED_TOKENS_CACHED)

    async def caller(self, authorization: str | None, apikey: str | None = None) -> Caller:
        """The caller of a request from its `Authorization` header, else its `apikey` header."""
        if authorization is not None:
            token = _bearer_token(authorization)
        elif apikey is not None:
            token = apikey
        else:
            return ANONYMOUS
        if token == self._anon_key:
            return ANONYMOUS
        claims = await self.verify(token)
        return Caller(role=cast(Role, claims["role"]), claims=claims, token=token)

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, times, audience, role and identity check out."""
        claims = self._verified.get(token)
        if claims is None:
            claims = await self._verify_uncached(token)
            self._verified.put(token, claims)
        # A copy, so no request can alter what the next request with this token is given.
        return dict(claims)

    async def _verify_uncached(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The token is not a well-formed JWT.") from None
        algorithm = header.get("alg")
        # An allowlist: never "none", nor any algorithm we have no key type for.
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise InvalidToken("The token's signing algorithm is not accepted.")
        key = await self._key_for(algorithm, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                leeway=LEEWAY_S,
                # The audience depends on the role, so it is checked below.
                options={"require": ["exp"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("The token is not valid yet.") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"The token has no '{error.claim}' claim.") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("The token's signature does not verify.") from None
        except jwt.PyJWTError:
            raise InvalidToken("The token is malformed or its claims are invalid.") from None
        self._check_identity(claims)
        return claims

    async def _key_for(self, algorithm: str, kid: str | None) -> str | jwt.PyJWK:
        if algorithm == "HS256":
            # Only ever the secret: an HS256 token must never be checked against a public key.
            if self._secret is None:
                raise InvalidToken("HS256 tokens are not accepted here.")
            return self._secret
        if not kid:
            raise InvalidToken("The token does not name its signing key (kid).")
        if self._own_key is not None and kid == self._own_key[0]:
            key = self._own_key[1]
        elif self._signing_keys is not None:
            key = await self._signing_keys.get(kid)
        else:
            raise InvalidToken(f"{algorithm} tokens are not accepted here.")
        # Checked here, not left to whichever PyJWT version is installed.
        if key.algorithm_name != algorithm:
            raise InvalidToken("The token's algorithm does not match its signing key.")
        return key

    def _check_identity(self, claims: dict[str, Any]) -> None:
        role = claims.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise InvalidToken("The token's role is not one this API serves.")
        audience = claims.get("aud")
        if audience is not None or role == "authenticated":
            audiences = [audience] if isinstance(audience, str) else audience
            if not isinstance(audiences, list) or self._audience not in audiences:
                raise InvalidToken("The token is not meant for this API (aud).")
        if role == "authenticated" and _canonical_uuid(claims.get("sub")) is None:
            raise InvalidToken("A user token needs a uuid 'sub' claim.")
        if (
            role == "anon"
            and "guest_session" in claims
            and not _is_guest_session(claims["guest_session"])
        ):
            raise InvalidToken("The token's guest_session claim is malformed.")


class _SigningKeys:
    """The JWKS's ES256/RS256 keys by `kid`: fetched lazily, refetched for an unknown `kid` at
    most once per cooldown, refreshed when old, kept (stale) while the endpoint is down."""

    def __init__(
        self, url: str, http: httpx.AsyncClient, timeout_s: float, clock: Callable[[], float]
    ) -> None:
        self._url = url
        self._http = http
        self._timeout = httpx.Timeout(timeout_s)
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -math.inf
        self._next_fetch_at = -math.inf
        self._last_fetch_failed = False
        # One fetch at a time: concurrent requests with a new kid wait for it instead of each
        # fetching.
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> jwt.PyJWK:
        now = self._clock()
        stale = now - self._fetched_at >= JWKS_MAX_AGE_S
        if (kid not in self._keys or stale) and now >= self._next_fetch_at:
            await self._refresh()
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._last_fetch_failed:
            retry_after = max(1, math.ceil(self._next_fetch_at - self._clock()))
            raise ServiceUnavailable(
                "The token's signing keys could not be fetched; try again shortly.",
                headers={"Retry-After": str(retry_after)},
            )
        raise InvalidToken("The token's signing key is unknown.")

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if now < self._next_fetch_at:
                return
            try:
                self._keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as error:
                self._last_fetch_failed = True
                self._next_fetch_at = now + JWKS_RETRY_AFTER_FAILURE_S
                logger.warning("jwks fetch failed", url=self._url, error=repr(error))
                return
            self._last_fetch_failed = False
            self._fetched_at = now
            self._next_fetch_at = now + JWKS_REFETCH_COOLDOWN_S

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        response = await self._http.get(self._url, timeout=self._timeout)
        response.raise_for_status()
        document = response.json()
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("the JWKS document has no 'keys' list")
        keys = (_verification_key(entry) for entry in entries)
        return {key.key_id: key for key in keys if key is not None and key.key_id}


def _verification_key(entry: object) -> jwt.PyJWK | None:
    """A JWKS entry as an ES256/RS256 signature key, or None for anything else."""
    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    try:
        key = jwt.PyJWK(entry)
    except (jwt.PyJWTError, ValueError):
        return None
    return key if key.algorithm_name in ASYMMETRIC_ALGORITHMS else None


class _VerifiedTokens:
    """Least-recently-used verified tokens → their claims, each dropped once it expires."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._claims: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, token: str) -> dict[str, Any] | None:
        claims = self._claims.get(token)
        if claims is None:
            return None
        # The same test PyJWT applies; nbf and iat can only have become more valid since.
        if int(claims["exp"]) <= time.time() - LEEWAY_S:
            del self._claims[token]
            return None
        self._claims.move_to_end(token)
        return claims

    def put(self, token: str, claims: dict[str, Any]) -> None:
        self._claims[token] = claims
        if len(self._claims) > self._size:
            self._claims.popitem(last=False)


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send the token as 'Authorization: Bearer <token>'.")
    return token


def _canonical_uuid(value: object) -> uuid.UUID | None:
    """`value` as a uuid when it is one in canonical lower-case form (as Postgres prints it)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value else None


def _is_guest_session(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("sess_")
        and _canonical_uuid(value.removeprefix("sess_")) is not None
    )
