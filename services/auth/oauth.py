"""Google sign-in and GitHub account linking: the OAuth 2.0 authorization code flow.

Each flow starts with a redirect to the provider carrying a `state`: an HS256 JWT (signed with
OAUTH_STATE_SECRET, else JWT_SECRET) with a random nonce, 10 minutes to live and, for GitHub, the
signed-in user it links. The same start sets an HttpOnly, SameSite=Lax cookie, signed alike,
holding that nonce, the PKCE verifier (Google) and the guest session to claim. The callback
accepts a state only with its own browser's cookie: a forged, expired or replayed-elsewhere state
ends in an error redirect before anything is written. Google accounts match on `google_id`, then
on an email Google says is verified; GitHub tokens are stored in a column no client role can read.
"""

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import httpx
import jwt
import msgspec
import structlog
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect
from litestar.types import AnyCallable

from services.auth.models import NAME_MAX, EmailTaken
from services.auth.repo import AuthRepository, UserRecord
from services.auth.tokens import claim_guest, set_session_cookies, start_session
from shared.cache import USER_SESSION, Cache
from shared.config import Settings
from shared.errors import NotFound, Unauthorized
from shared.identity import Caller
from shared.ratelimit import RATE_LIMIT_OPT

FLOW_TTL_S = 600
FLOW_COOKIE = "sajtmaskin_oauth_{provider}"
STATE_AUDIENCE = "sajtmaskin:oauth-state:{provider}"
FLOW_AUDIENCE = "sajtmaskin:oauth-flow:{provider}"
GOOGLE_SCOPE = "openid email profile"
GITHUB_SCOPE = "repo"
GITHUB_API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}
# Redirects must never be cached: each carries a one-time state or sets a session.
NO_STORE = {"Cache-Control": "no-store"}

AnswerT = TypeVar("AnswerT", bound=msgspec.Struct)

# The query of a provider's redirect back; long enough for any real code or state.
ProviderAnswer = Annotated[str | None, QueryParameter(max_length=4096)]
# `state` is the name Litestar reserves for the app's State.
FlowState = Annotated[str | None, QueryParameter(name="state", max_length=4096)]

logger = structlog.stdlib.get_logger(__name__)


class ProviderNotConfigured(NotFound):
    code = "provider_not_configured"
    title = "Sign-in provider not configured"


class FlowFailed(Exception):
    """The flow ends in an error redirect; `reason` is one of a fixed set of words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Flow(msgspec.Struct, frozen=True):
    """What a verified callback knows about the flow its browser started."""

    verifier: str | None
    guest_session: str | None
    user_id: str | None


class GoogleTokens(msgspec.Struct, frozen=True):
    access_token: str


class GoogleProfile(msgspec.Struct, frozen=True):
    """Google's OpenID userinfo, the claims used here."""

    sub: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    picture: str | None = None


class GitHubTokens(msgspec.Struct, frozen=True):
    """GitHub answers 200 either way: a token, or an `error` code."""

    access_token: str | None = None
    error: str | None = None


class GitHubUser(msgspec.Struct, frozen=True):
    id: int
    login: str


# Google ------------------------------------------------------------------------------------------


@get("/google")
async def google_sign_in(
    settings: NamedDependency[Settings], guest_session: NamedDependency[str | None]
) -> Response[Any]:
    """Send the browser to Google's consent screen."""
    client_id, _secret = _google_client(settings)
    verifier = secrets.token_urlsafe(64)
    # A guest signing in keeps its work: its session is remembered now, claimed on return.
    state, cookie = _begin(settings, "google", verifier=verifier, guest_session=guest_session)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": _callback_url(settings, "google"),
        "scope": GOOGLE_SCOPE,
        "state": state,
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
    }
    return Redirect(
        f"{settings.google_auth_url}?{urlencode(query)}", cookies=[cookie], headers=NO_STORE
    )


@get("/google/callback", opt={RATE_LIMIT_OPT: "login"})
async def google_callback(
    request: Request[Any, Any, State],
    auth: NamedDependency[AuthRepository],
    cache: NamedDependency[Cache],
    settings: NamedDependency[Settings],
    flow_state: FlowState = None,
    code: ProviderAnswer = None,
    error: ProviderAnswer = None,
) -> Response[Any]:
    """Google's redirect back: sign the account in (creating or linking it), back to the app."""
    client_id, client_secret = _google_client(settings)
    try:
        flow = _finish(request, settings, "google", flow_state)
        if error or not code:
            raise FlowFailed("access_denied" if error == "access_denied" else "provider_error")
        profile = await _google_profile(
            request.app.state.http, settings, client_id, client_secret, code, flow.verifier
        )
        user = await _google_account(auth, profile)
    except FlowFailed as failure:
        logger.warning("google sign-in failed", reason=failure.reason)
        return _ended(settings, "google", "/", {"auth": "error", "reason": failure.reason})
    session = await start_session(auth, settings, user.id, user.email)
    await claim_guest(auth, flow.guest_session, user.id)
    # Read back after the bonus, so the cached user has its balance.
    signed_in = await auth.update_user(user.id, {"last_login_at": datetime.now(UTC)})
    await cache.set(USER_SESSION.key(user.id), (signed_in or user).public)
    response = _ended(settings, "google", "/", {"auth": "success"})
    set_session_cookies(response, settings, session)
    return response


async def _google_profile(
    http: httpx.AsyncClient,
    settings: Settings,
    client_id: str,
    client_secret: str,
    code: str,
    verifier: str | None,
) -> GoogleProfile:
    form = {
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": _callback_url(settings, "google"),
        "grant_type": "authorization_code",
        "code_verifier": verifier or "",
    }
    tokens = await _call(http, "POST", settings.google_token_url, GoogleTokens, data=form)
    return await _call(
        http,
        "GET",
        settings.google_userinfo_url,
        GoogleProfile,
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )


async def _google_account(repo: AuthRepository, profile: GoogleProfile) -> UserRecord:
    """The user this Google account signs in as: linked before, else the owner of its verified
    email (now linked), else a new user. Each of the latter two gets the signup bonus (once)."""
    user = await repo.user_by_google_id(profile.sub)
    if user is not None:
        return _enabled(user)
    # Only an address Google has verified may claim an account, or create one as verified.
    if not profile.email or not profile.email_verified:
        raise FlowFailed("email_not_verified")
    email = profile.email.strip().lower()
    user = await repo.user_by_email(email)
    if user is None:
        user = await _create_google_user(repo, profile, email)
    elif user.google_id is not None:
        # The address now belongs to another Google account than the one linked.
        raise FlowFailed("account_conflict")
    else:
        user = await _link_google(repo, _enabled(user), profile.sub)
    await repo.grant_signup_bonus(user.id)
    return user


def _enabled(user: UserRecord) -> UserRecord:
    if user.disabled_at is not None:
        raise FlowFailed("account_disabled")
    return user


async def _create_google_user(
    repo: AuthRepository, profile: GoogleProfile, email: str
) -> UserRecord:
    try:
        return await repo.create_user(
            email,
            name=profile.name[:NAME_MAX] if profile.name else None,
            image=profile.picture,
            provider="google",
            google_id=profile.sub,
            email_verified=True,
        )
    except EmailTaken:
        # The same account's other callback won the race.
        raise FlowFailed("account_conflict") from None


async def _link_google(repo: AuthRepository, user: UserRecord, google_id: str) -> UserRecord:
    values: dict[str, Any] = {"google_id": google_id, "email_verified": True}
    if not user.email_verified:
        # Whoever registered this address never proved they own it; Google's user just did. The
        # unproven password must not stay a way in (account pre-hijacking).
        values |= {
            "password_hash": None,
            "verification_token_hash": None,
            "verification_expires_at": None,
        }
    linked = await repo.update_user(user.id, values)
    if linked is None:
        raise FlowFailed("account_conflict")
    return linked


# GitHub ------------------------------------------------------------------------------------------


@get("/github")
async def github_link(
    caller: NamedDependency[Caller], settings: NamedDependency[Settings]
) -> Response[Any]:
    """Send a signed-in user to GitHub to allow code export to their repositories."""
    client_id, _secret = _github_client(settings)
    if caller.user_id is None:
        raise Unauthorized("Sign in before linking a GitHub account.")
    state, cookie = _begin(settings, "github", user_id=str(caller.user_id))
    query = {
        "client_id": client_id,
        "redirect_uri": _callback_url(settings, "github"),
        "scope": GITHUB_SCOPE,
        "state": state,
        "allow_signup": "true",
    }
    return Redirect(
        f"{settings.github_auth_url}?{urlencode(query)}", cookies=[cookie], headers=NO_STORE
    )


@get("/github/callback")
async def github_callback(
    request: Request[Any, Any, State],
    auth: NamedDependency[AuthRepository],
    cache: NamedDependency[Cache],
    settings: NamedDependency[Settings],
    flow_state: FlowState = None,
    code: ProviderAnswer = None,
    error: ProviderAnswer = None,
) -> Response[Any]:
    """GitHub's redirect back: store the account and its token for the user who started."""
    client_id, client_secret = _github_client(settings)
    try:
        flow = _finish(request, settings, "github", flow_state)
        if flow.user_id is None:
            raise FlowFailed("invalid_state")
        if error or not code:
            raise FlowFailed("access_denied" if error == "access_denied" else "provider_error")
        token, account = await _github_account(
            request.app.state.http, settings, client_id, client_secret, code
        )
        user_id = UUID(flow.user_id)
        linked = await auth.update_user(
            user_id,
            {
                "github_id": str(account.id),
                "github_username": account.login,
                "github_token": token,
            },
        )
        if linked is None:
            raise FlowFailed("unknown_user")
    except FlowFailed as failure:
        logger.warning("github linking failed", reason=failure.reason)
        return _ended(
            settings, "github", "/settings", {"github": "error", "reason": failure.reason}
        )
    await cache.invalidate(USER_SESSION.key(user_id))
    return _ended(settings, "github", "/settings", {"github": "linked"})


@post("/github/disconnect", status_code=204)
async def github_disconnect(
    caller: NamedDependency[Caller],
    auth: NamedDependency[AuthRepository],
    cache: NamedDependency[Cache],
) -> None:
    """Forget the signed-in user's GitHub account and token."""
    if caller.user_id is None:
        raise Unauthorized("Sign in first.")
    await auth.update_user(
        caller.user_id, {"github_id": None, "github_username": None, "github_token": None}
    )
    await cache.invalidate(USER_SESSION.key(caller.user_id))


async def _github_account(
    http: httpx.AsyncClient, settings: Settings, client_id: str, client_secret: str, code: str
) -> tuple[str, GitHubUser]:
    form = {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": _callback_url(settings, "github"),
    }
    tokens = await _call(
        http,
        "POST",
        settings.github_token_url,
        GitHubTokens,
        data=form,
        headers={"Accept": "application/json"},
    )
    if tokens.access_token is None:
        logger.warning("github refused the code", error=tokens.error)
        raise FlowFailed("provider_error")
    account = await _call(
        http,
        "GET",
        f"{settings.github_api_url.rstrip('/')}/user",
        GitHubUser,
        headers={**GITHUB_API_HEADERS, "Authorization": f"Bearer {tokens.access_token}"},
    )
    return tokens.access_token, account


# The flow ----------------------------------------------------------------------------------------


def _begin(
    settings: Settings,
    provider: str,
    *,
    verifier: str | None = None,
    guest_session: str | None = None,
    user_id: str | None = None,
) -> tuple[str, Cookie]:
    """A new flow's state and the cookie that binds it to this browser."""
    secret = _state_secret(settings)
    nonce = secrets.token_urlsafe(32)
    expires = int(time.time()) + FLOW_TTL_S
    state_claims: dict[str, Any] = {
        "aud": STATE_AUDIENCE.format(provider=provider),
        "nonce": nonce,
        "exp": expires,
    }
    if user_id is not None:
        state_claims["sub"] = user_id
    flow_claims = {
        "aud": FLOW_AUDIENCE.format(provider=provider),
        "nonce": nonce,
        "exp": expires,
        "verifier": verifier,
        "guest_session": guest_session,
    }
    cookie = Cookie(
        key=FLOW_COOKIE.format(provider=provider),
        value=jwt.encode(flow_claims, secret, algorithm="HS256"),
        max_age=FLOW_TTL_S,
        path=_flow_cookie_path(settings, provider),
        httponly=True,
        secure=settings.cookie_secure,
        # Lax: sent on the provider's top-level redirect back, never on cross-site subrequests.
        samesite="lax",
    )
    return jwt.encode(state_claims, secret, algorithm="HS256"), cookie


def _finish(
    request: Request[Any, Any, State], settings: Settings, provider: str, state: str | None
) -> Flow:
    """The flow `state` belongs to, if it is genuine, unexpired and this browser's own."""
    cookie = request.cookies.get(FLOW_COOKIE.format(provider=provider))
    if not state or not cookie:
        raise FlowFailed("invalid_state")
    secret = _state_secret(settings)
    try:
        state_claims = jwt.decode(
            state,
            secret,
            algorithms=["HS256"],
            audience=STATE_AUDIENCE.format(provider=provider),
            options={"require": ["exp", "nonce"]},
        )
        flow_claims = jwt.decode(
            cookie,
            secret,
            algorithms=["HS256"],
            audience=FLOW_AUDIENCE.format(provider=provider),
            options={"require": ["exp", "nonce"]},
        )
    except jwt.PyJWTError:
        raise FlowFailed("invalid_state") from None
    if not hmac.compare_digest(str(state_claims["nonce"]), str(flow_claims["nonce"])):
        raise FlowFailed("invalid_state")
    return Flow(
        verifier=flow_claims.get("verifier"),
        guest_session=flow_claims.get("guest_session"),
        user_id=state_claims.get("sub"),
    )


def _ended(
    settings: Settings, provider: str, app_path: str, query: dict[str, str]
) -> Response[Any]:
    """The redirect back to the app that ends a flow; its cookie is spent either way."""
    response = Redirect(
        f"{settings.app_base_url.rstrip('/')}{app_path}?{urlencode(query)}", headers=NO_STORE
    )
    response.delete_cookie(
        FLOW_COOKIE.format(provider=provider), path=_flow_cookie_path(settings, provider)
    )
    return response


async def _call(
    http: httpx.AsyncClient, method: str, url: str, answer: type[AnswerT], **request: Any
) -> AnswerT:
    """A provider endpoint's JSON answer as `answer`; anything else ends the flow."""
    try:
        response = await http.request(method, url, **request)
    except httpx.HTTPError as error:
        logger.warning("oauth provider unreachable", url=url, error=type(error).__name__)
        raise FlowFailed("provider_unavailable") from error
    if not response.is_success:
        logger.warning("oauth provider refused", url=url, status=response.status_code)
        raise FlowFailed("provider_error")
    try:
        return msgspec.json.decode(response.content, type=answer)
    except msgspec.ValidationError:
        logger.warning("oauth provider answered unexpectedly", url=url)
        raise FlowFailed("provider_error") from None


def _google_client(settings: Settings) -> tuple[str, str]:
    if not settings.google_client_id or not settings.google_client_secret:
        raise ProviderNotConfigured("Google sign-in is not configured.")
    _state_secret(settings)
    return settings.google_client_id, settings.google_client_secret


def _github_client(settings: Settings) -> tuple[str, str]:
    if not settings.github_client_id or not settings.github_client_secret:
        raise ProviderNotConfigured("GitHub linking is not configured.")
    _state_secret(settings)
    return settings.github_client_id, settings.github_client_secret


def _state_secret(settings: Settings) -> str:
    secret = settings.oauth_state_secret or settings.jwt_secret
    if not secret:
        raise ProviderNotConfigured("OAuth needs OAUTH_STATE_SECRET or JWT_SECRET.")
    return secret


def _callback_url(settings: Settings, provider: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/auth/{provider}/callback"


def _flow_cookie_path(settings: Settings, provider: str) -> str:
    """Where the browser sends the flow cookie: the provider's start and callback routes."""
    return f"{urlsplit(settings.public_base_url).path.rstrip('/')}/auth/{provider}"


def _s256(verifier: str) -> str:
    """The PKCE S256 challenge of `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


OAUTH_HANDLERS: list[AnyCallable] = [
    google_sign_in,
    google_callback,
    github_link,
    github_callback,
    github_disconnect,
]
"""The OAuth routes, for the auth router (paths relative to /auth)."""
