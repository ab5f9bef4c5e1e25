"""The state of one OAuth flow, bound to the browser that started it.

A flow starts with a redirect to the provider carrying `state`: a JWT with a random nonce and
10 minutes to live. The same start sets an HttpOnly, SameSite=Lax cookie holding that nonce, the
PKCE verifier (Google), the guest session to claim and the signed-in user who started (if any).
The callback accepts a state only with its own browser's cookie, so a forged, expired or
replayed-elsewhere state ends in an error before anything is written. Both are signed with a key
for this purpose alone (OAUTH_STATE_SECRET, else one derived from the project secret): neither is
ever a token the Data API accepts.
"""

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import jwt
import msgspec
from litestar.datastructures import Cookie

from services.auth.tokens import purpose_key
from shared.config import Settings

FLOW_TTL_S = 600
FLOW_COOKIE = "sajtmaskin_oauth_{provider}"
STATE_AUDIENCE = "sajtmaskin:oauth-state:{provider}"
FLOW_AUDIENCE = "sajtmaskin:oauth-flow:{provider}"


class FlowFailed(Exception):
    """The flow ends in an error redirect; `reason` is one of a fixed set of words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Flow(msgspec.Struct, frozen=True):
    """What a verified callback knows about the flow its browser started."""

    verifier: str | None
    guest_session: str | None
    user_id: UUID | None
    """The user signed in when the flow started: GitHub links to them; a Google sign-in by the
    same user proves they hold the account's password."""


def begin(
    settings: Settings,
    provider: str,
    *,
    verifier: str | None = None,
    guest_session: str | None = None,
    user_id: UUID | None = None,
) -> tuple[str, Cookie]:
    """A new flow's state and the cookie that binds it to this browser."""
    key = _key(settings)
    nonce = secrets.token_urlsafe(32)
    expires = int(time.time()) + FLOW_TTL_S
    state_claims = {"aud": STATE_AUDIENCE.format(provider=provider), "nonce": nonce, "exp": expires}
    flow_claims = {
        "aud": FLOW_AUDIENCE.format(provider=provider),
        "nonce": nonce,
        "exp": expires,
        "verifier": verifier,
        "guest_session": guest_session,
        "user_id": str(user_id) if user_id else None,
    }
    cookie = Cookie(
        key=FLOW_COOKIE.format(provider=provider),
        value=jwt.encode(flow_claims, key, algorithm="HS256"),
        max_age=FLOW_TTL_S,
        path=flow_cookie_path(settings, provider),
        httponly=True,
        secure=settings.cookie_secure,
        # Lax: sent on the provider's top-level redirect back, never on cross-site subrequests.
        samesite="lax",
    )
    return jwt.encode(state_claims, key, algorithm="HS256"), cookie


def finish(settings: Settings, provider: str, state: str | None, cookie: str | None) -> Flow:
    """The flow `state` belongs to, if it is genuine, unexpired and this browser's own."""
    if not state or not cookie:
        raise FlowFailed("invalid_state")
    state_claims = _decoded(settings, state, STATE_AUDIENCE.format(provider=provider))
    flow_claims = _decoded(settings, cookie, FLOW_AUDIENCE.format(provider=provider))
    if not hmac.compare_digest(str(state_claims["nonce"]), str(flow_claims["nonce"])):
        raise FlowFailed("invalid_state")
    user_id = flow_claims.get("user_id")
    return Flow(
        verifier=flow_claims.get("verifier"),
        guest_session=flow_claims.get("guest_session"),
        user_id=UUID(user_id) if isinstance(user_id, str) else None,
    )


def callback_url(settings: Settings, provider: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/auth/{provider}/callback"


def flow_cookie_path(settings: Settings, provider: str) -> str:
    """Where the browser sends the flow cookie: the provider's start and callback routes."""
    return f"{urlsplit(settings.public_base_url).path.rstrip('/')}/auth/{provider}"


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _decoded(settings: Settings, token: str, audience: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(settings),
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["exp", "nonce"]},
        )
    except (jwt.PyJWTError, ValueError):
        raise FlowFailed("invalid_state") from None
    return claims


def _key(settings: Settings) -> bytes:
    if settings.oauth_state_secret:
        return settings.oauth_state_secret.encode()
    return purpose_key(settings, "oauth-state")
