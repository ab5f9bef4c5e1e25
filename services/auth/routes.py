"""The auth service's HTTP routes, all under /auth."""

import html
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect

from services.auth.models import (
    TOKEN_MAX,
    Accepted,
    Credentials,
    EmailAddress,
    EmailToken,
    EmailVerified,
    GuestSession,
    GuestUsage,
    InvalidLinkToken,
    InvalidRefreshToken,
    Jwks,
    JwksNotConfigured,
    PasswordReset,
    ProfileUpdate,
    PublicUser,
    RefreshRequest,
    Registration,
    RegistrationAccepted,
    Session,
    SignedIn,
    UnsupportedMediaType,
    UserMe,
)
from services.auth.oauth import OAUTH_HANDLERS
from services.auth.passwords import authenticate, hash_password
from services.auth.repo import AccountRepository, AuthRepository, UserRecord
from services.auth.tokens import (
    REFRESH_COOKIE,
    clear_session_cookies,
    guest_token,
    jwks,
    new_guest_session,
    new_secret_token,
    presented_guest_session,
    refresh_session,
    set_access_cookie,
    set_session_cookies,
    sign_in,
    token_hash,
)
from shared.cache import USER_SESSION, Cache
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import Unauthorized, ValidationFailed
from shared.identity import Caller
from shared.ratelimit import RATE_LIMIT_OPT, RateLimiter

# The same answer whether or not anyone has the address, so it cannot be used to find accounts.
SENT_IF_KNOWN = Accepted("If the address belongs to an account, we have sent it an email.")


def provide_auth(
    data_plane: NamedDependency[DataPlane], settings: NamedDependency[Settings]
) -> AuthRepository:
    return AuthRepository(data_plane, settings)


def provide_account(
    data_plane: NamedDependency[DataPlane], caller: NamedDependency[Caller]
) -> AccountRepository:
    return AccountRepository(data_plane, caller)


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
    data: JSONBody[Registration],
    auth: NamedDependency[AuthRepository],
    settings: NamedDependency[Settings],
) -> RegistrationAccepted:
    token, verification_hash = new_secret_token()
    user = await auth.create_user(
        data.email,
        password_hash=await hash_password(data.password),
        name=data.name,
        verification_token_hash=verification_hash,
        verification_expires_at=_in(settings.verification_ttl_s),
    )
    await _send_verification(auth, settings, user.email, token)
    return RegistrationAccepted()


@get("/verify-email", summary="The emailed verification link: verify, then back to the app")
async def verify_email_link(
    auth: NamedDependency[AuthRepository],
    cache: NamedDependency[Cache],
    settings: NamedDependency[Settings],
    token: FromQuery[str | None] = None,
) -> Redirect:
    verified = token is not None and await _verify(auth, cache, token)
    outcome = "verified=success" if verified else "verified=error&reason=invalid_or_expired"
    return Redirect(f"{settings.app_base_url.rstrip('/')}/?{outcome}")


@post("/verify-email", status_code=200, summary="Verify an email address with its token")
async def verify_email(
    data: JSONBody[EmailToken],
    auth: NamedDependency[AuthRepository],
    cache: NamedDependency[Cache],
) -> EmailVerified:
    if not await _verify(auth, cache, data.token):
        raise InvalidLinkToken("The verification link is invalid or has expired.")
    return EmailVerified()


@post(
    "/resend-verification",
    status_code=202,
    opt={RATE_LIMIT_OPT: "resend_verification"},
    summary="Send a new verification link",
)
async def resend_verification(
    data: JSONBody[EmailAddress],
    auth: NamedDependency[AuthRepository],
    settings: NamedDependency[Settings],
) -> Accepted:
    user = await auth.user_by_email(data.email)
    if user is not None and not user.email_verified and user.disabled_at is None:
        token, verification_hash = new_secret_token()
        await auth.update_user(
            user.id,
            {
                "verification_token_hash": verification_hash,
                "verification_expires_at": _in(settings.verification_ttl_s),
            },
        )
        await _send_verification(auth, settings, user.email, token)
    return SENT_IF_KNOWN


@post(
    "/login",
    status_code=200,
    opt={RATE_LIMIT_OPT: "login"},
    summary="Sign in with email and password; claims the presented guest session's work",
)
async def login(
    data: JSONBody[Credentials],
    auth: NamedDependency[AuthRepository],
    settings: NamedDependency[Settings],
    limiter: NamedDependency[RateLimiter],
    cache: NamedDependency[Cache],
    guest_session: NamedDependency[str | None],
) -> Response[SignedIn]:
    if settings.rate_limit_enabled:
        # Per address as well as per client, so spreading guesses over many IPs does not help;
        # hashed, so Redis keys do not list who tried to sign in.
        await limiter.require("login_email", token_hash(data.email))
    user = await authenticate(auth, data.email, data.password)
    signed_in = await sign_in(auth, settings, cache, user, guest_session)
    response = Response(signed_in)
    set_session_cookies(response, settings, signed_in)
    return response


@post("/refresh", status_code=200, summary="Exchange the refresh token for a new session")
async def refresh(
    request: Request[Any, Any, Any],
    auth: NamedDependency[AuthRepository],
    settings: NamedDependency[Settings],
    data: JSONBody[RefreshRequest | None] = None,
) -> Response[Session]:
    presented = _presented_refresh_token(request, data)
    if presented is None:
        raise InvalidRefreshToken("No refresh token was presented.")
    session = await refresh_session(auth, settings, presented)
    response = Response(session)
    set_session_cookies(response, settings, session)
    return response


@post("/logout", status_code=204, summary="Revoke the refresh token's session and clear cookies")
async def logout(
    request: Request[Any, Any, Any],
    auth: NamedDependency[AuthRepository],
    settings: NamedDependency[Settings],
    cache: NamedDependency[Cache],
    data: JSONBody[RefreshRequest | None] = None,
) -> Response[None]:
    presented = _presented_refresh_token(request, data)
    user_id = await auth.revoke_refresh_family(token_hash(presented)) if presented else None
    if user_id is not None:
        await cache.invalidate(USER_SESSION.key(user_id))
    response: Response[None] = Response(None, status_code=204)
    clear_session_cookies(response, settings)
    return response


@get("/me", summary="The signed-in user, or the guest session's usage")
async def me(
    caller: NamedDependency[Caller],
    account: NamedDependency[AccountRepository],
    cache: NamedDependency[Cache],
) -> UserMe | GuestUsage:
    if caller.guest_session is not None:
        return await account.guest_usage(caller.guest_session)
    user_id = caller.user_id
    if user_id is None:
        raise Unauthorized("Sign in or start a guest session first.")

    async def load() -> PublicUser:
        user = await account.user(user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.")
        return user

    return UserMe(await cache.get_or_load(USER_SESSION.key(user_id), PublicUser, load))


@patch("/me", summary="Change the signed-in user's name or picture")
async def update_me(
    data: JSONBody[ProfileUpdate],
    caller: NamedDependency[Caller],
    account: NamedDependency[AccountRepository],
    cache: NamedDependency[Cache],
) -> UserMe:
    user_id = caller.user_id
    if user_id is None:
        raise Unauthorized("Sign in first.")
    changes = data.changes()
    if not changes:
        raise ValidationFailed("Send name, image or both.", errors=[])
    user = await account.update_profile(user_id, changes)
    # The cached copy changes with the account, never after it.
    await cache.set(USER_SESSION.key(user_id), user)
    return UserMe(user)


@post("/guest", status_code=201, summary="Start a guest session")
async def start_guest(settings: NamedDependency[Settings]) -> Response[GuestSession]:
    session_id = new_guest_session()
    token, expires_at = guest_token(settings, session_id)
    response = Response(GuestSession(token, session_id, expires_at), status_code=201)
    set_access_cookie(response, settings, token, expires_at)
    return response


@post(
    "/password/forgot",
    status_code=202,
    opt={RATE_LIMIT_OPT: "password_reset"},
    summary="Email a password reset link",
)
async def forgot_password(
    data: JSONBody[EmailAddress],
    auth: NamedDependency[AuthRepository],
    settings: NamedDependency[Settings],
) -> Accepted:
    user = await auth.user_by_email(data.email)
    if user is not None and user.disabled_at is None:
        await _send_password_reset(auth, settings, user)
    return SENT_IF_KNOWN


@post(
    "/password/reset",
    status_code=204,
    opt={RATE_LIMIT_OPT: "password_reset"},
    summary="Set a new password with an emailed token; signs out every session",
)
async def reset_password(
    data: JSONBody[PasswordReset],
    auth: NamedDependency[AuthRepository],
    cache: NamedDependency[Cache],
) -> None:
    user_id = await auth.reset_password(token_hash(data.token), await hash_password(data.password))
    if user_id is None:
        raise InvalidLinkToken("The reset link is invalid, used or has expired.")
    await cache.invalidate(USER_SESSION.key(user_id))


@get(
    "/.well-known/jwks.json",
    cache_control=CacheControlHeader(public=True, max_age=300),
    summary="The public keys access tokens are signed with (ES256 only)",
)
async def signing_keys(settings: NamedDependency[Settings]) -> Jwks:
    published = jwks(settings)
    if published is None:
        raise JwksNotConfigured("Tokens are signed with a shared secret; there are no keys.")
    return Jwks(published["keys"])


async def _verify(auth: AuthRepository, cache: Cache, token: str) -> bool:
    user_id = await auth.verify_email(token_hash(token)) if len(token) <= TOKEN_MAX else None
    if user_id is None:
        return False
    # The signup bonus changed the balance.
    await cache.invalidate(USER_SESSION.key(user_id))
    return True


async def _send_verification(
    auth: AuthRepository, settings: Settings, email: str, token: str
) -> None:
    link = f"{settings.public_base_url.rstrip('/')}/auth/verify-email?{urlencode({'token': token})}"
    await auth.enqueue_email(
        email,
        "Bekräfta din e-postadress",
        "Välkommen till Sajtmaskin! Bekräfta din e-postadress genom att öppna länken nedan."
        f" Länken gäller i {settings.verification_ttl_s // 3600} timmar.\n\n{link}\n\n"
        "Har du inte skapat något konto kan du bortse från det här mejlet.\n",
        _html_mail("Välkommen till Sajtmaskin!", "Bekräfta din e-postadress", link),
    )


async def _send_password_reset(auth: AuthRepository, settings: Settings, user: UserRecord) -> None:
    token, reset_hash = new_secret_token()
    await auth.create_password_reset(user.id, reset_hash, _in(settings.password_reset_ttl_s))
    link = f"{settings.app_base_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"
    await auth.enqueue_email(
        user.email,
        "Återställ ditt lösenord",
        "Öppna länken nedan för att välja ett nytt lösenord. Länken kan användas en gång och"
        f" gäller i {settings.password_reset_ttl_s // 60} minuter.\n\n{link}\n\n"
        "Har du inte bett om det kan du bortse från det här mejlet.\n",
        _html_mail("Glömt lösenordet?", "Välj ett nytt lösenord", link),
    )


def _html_mail(greeting: str, action: str, link: str) -> str:
    return (
        f"<p>{html.escape(greeting)}</p>"
        f'<p><a href="{html.escape(link)}">{html.escape(action)}</a></p>'
    )


def _presented_refresh_token(
    request: Request[Any, Any, Any], data: RefreshRequest | None
) -> str | None:
    if data is not None and data.refresh_token:
        return data.refresh_token
    cookie = request.cookies.get(REFRESH_COOKIE)
    return cookie if cookie and len(cookie) <= TOKEN_MAX else None


def _in(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


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
        "auth": Provide(provide_auth, sync_to_thread=False),
        "account": Provide(provide_account, sync_to_thread=False),
        "guest_session": Provide(presented_guest_session),
    },
    guards=[json_bodies_only],
)
