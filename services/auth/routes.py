"""The auth service's HTTP routes, all under /auth: each parses, makes one call, answers.

Cookies are set here and nowhere else; the work is `Sessions`' (sign-up, sign-in, sign-out,
passwords) or, for what people read and change about themselves, `Profiles`'.
"""

from typing import Any

from litestar import Request, Response, Router, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect

from services.auth.cookies import (
    clear_session_cookies,
    presented_caller,
    presented_guest_session,
    presented_refresh_token,
    set_access_cookie,
    set_session_cookies,
)
from services.auth.models import (
    Accepted,
    Credentials,
    EmailAddress,
    EmailToken,
    EmailVerified,
    GuestSession,
    InvalidLinkToken,
    InvalidRefreshToken,
    Jwks,
    JwksNotConfigured,
    PasswordReset,
    ProfileUpdate,
    RefreshRequest,
    Registration,
    RegistrationAccepted,
    Session,
    SignedIn,
    UnsupportedMediaType,
    UserMe,
)
from services.auth.oauth.routes import OAUTH_HANDLERS
from services.auth.profiles import Profiles
from services.auth.sessions import Sessions
from shared.access import Owner, SignedInUser, from_state
from shared.config import Settings
from shared.guest_quota import GuestQuota
from shared.identity import own_public_jwk
from shared.ratelimit import RATE_LIMIT_OPT

# The same answer whether or not anyone has the address, so it cannot be used to find accounts.
SENT_IF_KNOWN = Accepted("If the address belongs to an account, we have sent it an email.")


def json_bodies_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse bodies that are not JSON: a cross-site form or `no-cors` fetch can send text/plain
    or no type at all without a preflight, and must not be able to sign anyone in."""
    headers = connection.headers
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if has_body and media_type != "application/json":
        raise UnsupportedMediaType("Send the request body as application/json.")


@post(
    "/register",
    status_code=201,
    opt={RATE_LIMIT_OPT: "register"},
    summary="Create an account; a verification link goes out by email",
)
async def register(
    data: JSONBody[Registration], sessions: NamedDependency[Sessions]
) -> RegistrationAccepted:
    await sessions.register(data)
    return RegistrationAccepted()


@get("/verify-email", summary="The emailed verification link: verify, then back to the app")
async def verify_email_link(
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    token: FromQuery[str | None] = None,
) -> Redirect:
    verified = token is not None and await sessions.verify_email(token)
    outcome = "verified=success" if verified else "verified=error&reason=invalid_or_expired"
    return Redirect(f"{settings.app_base_url.rstrip('/')}/?{outcome}")


@post("/verify-email", status_code=200, summary="Verify an email address with its token")
async def verify_email(
    data: JSONBody[EmailToken], sessions: NamedDependency[Sessions]
) -> EmailVerified:
    if not await sessions.verify_email(data.token):
        raise InvalidLinkToken("The verification link is invalid or has expired.")
    return EmailVerified()


@post(
    "/resend-verification",
    status_code=202,
    opt={RATE_LIMIT_OPT: "resend_verification"},
    summary="Send a new verification link",
)
async def resend_verification(
    data: JSONBody[EmailAddress], sessions: NamedDependency[Sessions]
) -> Accepted:
    await sessions.resend_verification(data.email)
    return SENT_IF_KNOWN


@post(
    "/login",
    status_code=200,
    opt={RATE_LIMIT_OPT: "login"},
    summary="Sign in with email and password; claims the presented guest session's work",
)
async def login(
    data: JSONBody[Credentials],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    guest_session: NamedDependency[str | None],
) -> Response[SignedIn]:
    signed_in = await sessions.sign_in(data, guest_session)
    response = Response(signed_in)
    set_session_cookies(response, settings, signed_in)
    return response


@post("/refresh", status_code=200, summary="Exchange the refresh token for the session's next")
async def refresh(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    data: JSONBody[RefreshRequest | None] = None,
) -> Response[Session]:
    presented = presented_refresh_token(request, data.refresh_token if data else None)
    if presented is None:
        raise InvalidRefreshToken("No refresh token was presented.")
    session = await sessions.refresh(presented)
    response = Response(session)
    set_session_cookies(response, settings, session)
    return response


@post(
    "/logout",
    status_code=204,
    summary="End the session (named by the refresh or the access token) and clear cookies",
)
async def logout(
    request: Request[Any, Any, Any],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    data: JSONBody[RefreshRequest | None] = None,
) -> Response[None]:
    await sessions.sign_out(
        presented_refresh_token(request, data.refresh_token if data else None),
        await presented_caller(request),
    )
    response: Response[None] = Response(None, status_code=204)
    clear_session_cookies(response, settings)
    return response


@get("/me", summary="The signed-in user, or the guest session's usage")
async def me(
    owner: NamedDependency[Owner], profiles: NamedDependency[Profiles]
) -> UserMe | GuestQuota:
    return await profiles.of(owner)


@patch("/me", summary="Change the signed-in user's name or picture")
async def update_me(
    data: JSONBody[ProfileUpdate],
    user: NamedDependency[SignedInUser],
    profiles: NamedDependency[Profiles],
) -> UserMe:
    return await profiles.update(user, data)


@post(
    "/guest",
    status_code=201,
    opt={RATE_LIMIT_OPT: "guest_session"},
    summary="Start a guest session",
)
async def start_guest(
    sessions: NamedDependency[Sessions], settings: NamedDependency[Settings]
) -> Response[GuestSession]:
    guest = sessions.start_guest()
    response = Response(guest, status_code=201)
    set_access_cookie(response, settings, guest.access_token, guest.expires_at)
    return response


@post(
    "/password/forgot",
    status_code=202,
    opt={RATE_LIMIT_OPT: "password_reset"},
    summary="Email a password reset link",
)
async def forgot_password(
    data: JSONBody[EmailAddress], sessions: NamedDependency[Sessions]
) -> Accepted:
    await sessions.forgot_password(data.email)
    return SENT_IF_KNOWN


@post(
    "/password/reset",
    status_code=204,
    opt={RATE_LIMIT_OPT: "password_reset"},
    summary="Set a new password with an emailed token; ends every session",
)
async def reset_password(
    data: JSONBody[PasswordReset], sessions: NamedDependency[Sessions]
) -> None:
    await sessions.reset_password(data)


@get(
    "/.well-known/jwks.json",
    cache_control=CacheControlHeader(public=True, max_age=300),
    summary="The public keys access tokens are signed with (ES256 only)",
)
async def signing_keys(settings: NamedDependency[Settings]) -> Jwks:
    key = own_public_jwk(settings)
    if key is None:
        raise JwksNotConfigured("Tokens are signed with a shared secret; there are no keys.")
    return Jwks([key])


router = Router(
    path="/auth",
    route_handlers=[
        register,
        verify_email_link,
        verify_email,
        resend_verification,
        login,
        refresh,
        logout,
        me,
        update_me,
        start_guest,
        forgot_password,
        reset_password,
        signing_keys,
        *OAUTH_HANDLERS,
    ],
    dependencies={
        "profiles": from_state("profiles"),
        "sessions": from_state("sessions"),
        "google": from_state("google"),
        "github": from_state("github"),
        "guest_session": Provide(presented_guest_session),
    },
    guards=[json_bodies_only],
)
