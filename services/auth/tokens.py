"""Tokens: access JWTs as PostgREST accepts them, guest tokens, and the opaque secret tokens.

Only Data API tokens (a user's access token, a guest's token) are signed with the project's JWT
secret or private key, because PostgREST accepts anything signed so. Every other signature —
OAuth state, the refresh successor derivation — uses a key derived from it for that one purpose,
so it can never pass as a Data API token. Refresh, verification and reset tokens are opaque random
strings of which only the SHA-256 is stored.
"""

import base64
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared.config import Settings

SECRET_TOKEN_BYTES = 32


def new_secret_token() -> tuple[str, str]:
    """A random opaque token (for the client) and its SHA-256 hex (for the database)."""
    token = secrets.token_urlsafe(SECRET_TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def access_token(
    settings: Settings, user_id: UUID, email: str, session_id: UUID
) -> tuple[str, datetime]:
    """A user's access JWT with the claims PostgREST and `shared.identity` expect; `session_id`
    (Supabase's claim name) names the sign-in it belongs to, so ending that session ends it."""
    now = int(time.time())
    expires = now + settings.access_token_ttl_s
    claims = {
        "role": "authenticated",
        "sub": str(user_id),
        "aud": settings.jwt_audience,
        "email": email,
        "session_id": str(session_id),
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


def successor_token(settings: Settings, refresh_token: str) -> str:
    """The refresh token that rotating `refresh_token` yields: derived, not random, so that two
    tabs refreshing with the same token at once are both given the same successor."""
    digest = hmac.new(purpose_key(settings, "refresh-successor"), refresh_token.encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def purpose_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose only, derived from the project's signing secret: what it signs can
    never verify as a Data API token, nor as another purpose's signature."""
    master = settings.jwt_secret or settings.jwt_private_key
    if not master:
        raise ValueError("the auth service needs JWT_SECRET or JWT_PRIVATE_KEY")
    return _derived(master, purpose)


@functools.cache
def _derived(master: str, purpose: str) -> bytes:
    return hmac.new(master.encode(), f"sajtmaskin:{purpose}".encode(), "sha256").digest()


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
