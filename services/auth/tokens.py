"""Sessions: access JWTs as PostgREST accepts them, rotating refresh tokens, guest tokens, cookies.

Access tokens are HS256 with the project's JWT secret, or ES256 under `kid` when a private key is
configured (its public half is served as a JWKS). Refresh, verification and reset tokens are
opaque random strings of which only the SHA-256 is stored.
"""

import functools
import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from litestar import Request, Response
from litestar.datastructures import Cookie

from services.auth.models import InvalidRefreshToken, Session, SignedIn
from services.auth.repo import AuthRepository, UserRecord
from shared.cache import USER_SESSION, Cache
from shared.config import Settings
from shared.errors import Problem
from shared.identity import ACCESS_COOKIE, own_public_jwk, request_caller

REFRESH_COOKIE = "sajtmaskin_refresh"
# Only the auth routes need the refresh token, so no other request carries it.
REFRESH_COOKIE_PATH = "/auth"
SECRET_TOKEN_BYTES = 32


def new_secret_token() -> tuple[str, str]:
    """A random opaque token (for the client) and its SHA-256 hex (for the database)."""
    token = secrets.token_urlsafe(SECRET_TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def access_token(settings: Settings, user_id: UUID, email: str) -> tuple[str, datetime]:
    """A user's access JWT with the claims PostgREST and `shared.identity` expect."""
    now = int(time.time())
    expires = now + settings.access_token_ttl_s
    claims = {
        "role": "authenticated",
        "sub": str(user_id),
        "aud": settings.jwt_audience,
        "email": email,
        "iat": now,
        "exp": expires,
    }
    return _sign(settings, claims), datetime.fromtimestamp(expires, UTC)


def guest_token(settings: Settings, session_id: str) -> tuple[str, datetime]:
    """A guest's JWT: role anon plus the signed session claim; no `aud`, like the anon key."""
    now = int(time.time())
    expires = now + settings.guest_token_ttl_s
    claims = {"role": "anon", "guest_session": session_id, "iat": now, "exp": expires}
    return _sign(settings, claims), datetime.fromtimestamp(expires, UTC)


def new_guest_session() -> str:
    return f"sess_{uuid.uuid4()}"


async def start_session(
    repo: AuthRepository, settings: Settings, user_id: UUID, email: str
) -> Session:
    """Sign a user in: a new refresh token family and an access token."""
    refresh, refresh_hash = new_secret_token()
    refresh_expires = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s)
    await repo.store_refresh_token(user_id, uuid.uuid4(), refresh_hash, refresh_expires)
    access, access_expires = access_token(settings, user_id, email)
    return Session(
        access_token=access,
        expires_at=access_expires,
        refresh_token=refresh,
        refresh_expires_at=refresh_expires,
    )


async def refresh_session(repo: AuthRepository, settings: Settings, refresh: str) -> Session:
    """Rotate `refresh` into a new session; `InvalidRefreshToken` for anything but a live,
    unrotated token of an enabled user (a replayed one revokes its whole family in SQL)."""
    successor, successor_hash = new_secret_token()
    expires = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_s)
    rotation = await repo.rotate_refresh_token(token_hash(refresh), successor_hash, expires)
    rotated = rotation.outcome == "rotated"
    user = await repo.user_by_id(rotation.user_id) if rotated and rotation.user_id else None
    if user is None or user.disabled_at is not None:
        raise InvalidRefreshToken("Sign in again.")
    access, access_expires = access_token(settings, user.id, user.email)
    return Session(
        access_token=access,
        expires_at=access_expires,
        refresh_token=successor,
        refresh_expires_at=expires,
    )


async def sign_in(
    repo: AuthRepository,
    settings: Settings,
    cache: Cache,
    user: UserRecord,
    guest_session: str | None,
) -> SignedIn:
    """Everything signing in means, however the user proved who they are: a new session, the
    presented guest session's work claimed, and the public user cached."""
    session = await start_session(repo, settings, user.id, user.email)
    claimed = await claim_guest(repo, guest_session, user.id)
    await cache.set(USER_SESSION.key(user.id), user.public)
    return SignedIn(**msgspec.structs.asdict(session), user=user.public, claimed=claimed)


async def claim_guest(repo: AuthRepository, guest_session: str | None, user_id: UUID) -> int:
    """Move the presented guest session's work to the user who just signed in (once)."""
    if guest_session is None:
        return 0
    return await repo.claim_guest_session(user_id, guest_session)


async def presented_guest_session(request: Request[Any, Any, Any]) -> str | None:
    """The guest session of the request's token, if it carries a valid guest token.

    Unlike the `caller` dependency this never refuses: a stale or foreign cookie must not stop
    anyone from signing in, it only means there is nothing to claim."""
    try:
        caller = await request_caller(request)
    except Problem:
        return None
    return caller.guest_session


def set_session_cookies(response: Response[Any], settings: Settings, session: Session) -> None:
    """The session as HttpOnly cookies, for browsers (API clients use the JSON body)."""
    set_access_cookie(response, settings, session.access_token, session.expires_at)
    response.set_cookie(
        _cookie(settings, REFRESH_COOKIE, session.refresh_token, session.refresh_expires_at)
    )


def set_access_cookie(
    response: Response[Any], settings: Settings, token: str, expires_at: datetime
) -> None:
    response.set_cookie(_cookie(settings, ACCESS_COOKIE, token, expires_at))


def clear_session_cookies(response: Response[Any], settings: Settings) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.set_cookie(_cookie(settings, name, "", None))


def jwks(settings: Settings) -> dict[str, Any] | None:
    """The public half of the signing key as a JWKS; None when tokens are HS256."""
    key = own_public_jwk(settings)
    return {"keys": [key]} if key else None


def _cookie(settings: Settings, name: str, value: str, expires_at: datetime | None) -> Cookie:
    # Expiring with the token, so a browser never sends one the API would refuse.
    max_age = max(0, int(expires_at.timestamp() - time.time())) if expires_at else 0
    return Cookie(
        key=name,
        value=value,
        max_age=max_age,
        path=REFRESH_COOKIE_PATH if name == REFRESH_COOKIE else "/",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )


def _sign(settings: Settings, claims: dict[str, Any]) -> str:
    if settings.jwt_private_key:
        return jwt.encode(
            claims,
            _private_key(settings.jwt_private_key),
            algorithm="ES256",
            headers={"kid": settings.jwt_key_id},
        )
    if not settings.jwt_secret:
        raise ValueError("the auth service needs JWT_SECRET or JWT_PRIVATE_KEY to sign tokens")
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


@functools.cache
def _private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("JWT_PRIVATE_KEY must be an EC P-256 private key (ES256)")
    return key
