"""The OAuth redirects under /auth: to the provider, and back from it to the app."""

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

import structlog
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect
from litestar.types import AnyCallable

from services.auth.cookies import presented_user, set_session_cookies
from services.auth.oauth.flow import FLOW_COOKIE, FlowFailed, begin, finish, flow_cookie_path
from services.auth.oauth.providers import GitHub, Google
from services.auth.sessions import Sessions
from shared.access import SignedInUser
from shared.config import Settings
from shared.ratelimit import RATE_LIMIT_OPT

# Redirects must never be cached: each carries a one-time state or sets a session.
NO_STORE = {"Cache-Control": "no-store"}

# The query of a provider's redirect back; long enough for any real code or state.
ProviderAnswer = Annotated[str | None, QueryParameter(max_length=4096)]
# `state` is the name Litestar reserves for the app's State.
FlowState = Annotated[str | None, QueryParameter(name="state", max_length=4096)]

logger = structlog.stdlib.get_logger(__name__)


@get("/google")
async def google_sign_in(
    request: Request[Any, Any, State],
    google: NamedDependency[Google],
    settings: NamedDependency[Settings],
    guest_session: NamedDependency[str | None],
) -> Response[Any]:
    """Send the browser to Google's consent screen."""
    google.require_configured()
    verifier = secrets.token_urlsafe(64)
    # A guest signing in keeps its work: its session is remembered now, claimed on return.
    state, cookie = begin(
        settings,
        "google",
        verifier=verifier,
        guest_session=guest_session,
        user_id=await presented_user(request),
    )
    return Redirect(google.consent_url(state, verifier), cookies=[cookie], headers=NO_STORE)


@get("/google/callback", opt={RATE_LIMIT_OPT: "login"})
async def google_callback(
    request: Request[Any, Any, State],
    google: NamedDependency[Google],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    flow_state: FlowState = None,
    code: ProviderAnswer = None,
    error: ProviderAnswer = None,
) -> Response[Any]:
    """Google's redirect back: sign the account in (creating or linking it), back to the app."""
    google.require_configured()
    try:
        flow = finish(settings, "google", flow_state, request.cookies.get(_cookie("google")))
        profile = await google.profile(_granted(code, error), flow.verifier)
        signed_in = await sessions.sign_in_with_google(profile, flow)
    except FlowFailed as failure:
        logger.warning("google sign-in failed", reason=failure.reason)
        return _ended(settings, "google", "/", {"auth": "error", "reason": failure.reason})
    response = _ended(settings, "google", "/", {"auth": "success"})
    set_session_cookies(response, settings, signed_in)
    return response


@get("/github")
async def github_link(
    user: NamedDependency[SignedInUser],
    github: NamedDependency[GitHub],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """Send a signed-in user to GitHub to allow code export to their repositories."""
    github.require_configured()
    state, cookie = begin(settings, "github", user_id=user.id)
    return Redirect(github.consent_url(state), cookies=[cookie], headers=NO_STORE)


@get("/github/callback")
async def github_callback(
    request: Request[Any, Any, State],
    github: NamedDependency[GitHub],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    flow_state: FlowState = None,
    code: ProviderAnswer = None,
    error: ProviderAnswer = None,
) -> Response[Any]:
    """GitHub's redirect back: store the account and its token for the user who started."""
    github.require_configured()
    try:
        flow = finish(settings, "github", flow_state, request.cookies.get(_cookie("github")))
        if flow.user_id is None:
            raise FlowFailed("invalid_state")
        account = await github.account(_granted(code, error))
        await sessions.link_github(flow.user_id, account)
    except FlowFailed as failure:
        logger.warning("github linking failed", reason=failure.reason)
        return _ended(
            settings, "github", "/settings", {"github": "error", "reason": failure.reason}
        )
    return _ended(settings, "github", "/settings", {"github": "linked"})


@post("/github/disconnect", status_code=204)
async def github_disconnect(
    user: NamedDependency[SignedInUser], sessions: NamedDependency[Sessions]
) -> None:
    """Forget the signed-in user's GitHub account and token."""
    await sessions.unlink_github(user.id)


def _granted(code: str | None, error: str | None) -> str:
    """The provider's authorization code, or the flow's end when it gave none."""
    if error or not code:
        raise FlowFailed("access_denied" if error == "access_denied" else "provider_error")
    return code


def _cookie(provider: str) -> str:
    return FLOW_COOKIE.format(provider=provider)


def _ended(
    settings: Settings, provider: str, app_path: str, query: dict[str, str]
) -> Response[Any]:
    """The redirect back to the app that ends a flow; its cookie is spent either way."""
    response = Redirect(
        f"{settings.app_base_url.rstrip('/')}{app_path}?{urlencode(query)}", headers=NO_STORE
    )
    response.delete_cookie(_cookie(provider), path=flow_cookie_path(settings, provider))
    return response


OAUTH_HANDLERS: list[AnyCallable] = [
    google_sign_in,
    google_callback,
    github_link,
    github_callback,
    github_disconnect,
]
"""The OAuth routes, for the auth router (paths relative to /auth)."""
