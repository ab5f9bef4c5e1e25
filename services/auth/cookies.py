"""What browsers carry: the session cookies auth sets and clears, and the credentials a request
presents without having to be valid (a stale cookie must never stop anyone signing in or out)."""

import time
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, Response
from litestar.datastructures import Cookie

from services.auth.models import TOKEN_MAX, Session
from shared.config import Settings
from shared.errors import Problem
from shared.identity import ACCESS_COOKIE, Caller, request_caller

REFRESH_COOKIE = "sajtmaskin_refresh"
# Only the auth routes need the refresh token, so no other request carries it.
REFRESH_COOKIE_PATH = "/auth"


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


def presented_refresh_token(request: Request[Any, Any, Any], in_body: str | None) -> str | None:
    """The refresh token of the request: the body's, else the refresh cookie's."""
    if in_body:
        return in_body
    cookie = request.cookies.get(REFRESH_COOKIE)
    return cookie if cookie and len(cookie) <= TOKEN_MAX else None


async def presented_caller(request: Request[Any, Any, Any]) -> Caller | None:
    """The request's verified caller, or None when its token does not verify."""
    try:
        return await request_caller(request)
    except Problem:
        return None


async def presented_guest_session(request: Request[Any, Any, Any]) -> str | None:
    """The guest session of the request's token, if it carries a valid guest token: its work is
    claimed by whoever signs in."""
    caller = await presented_caller(request)
    return caller.guest_session if caller else None


async def presented_user(request: Request[Any, Any, Any]) -> UUID | None:
    """The signed-in user of the request's token, if it carries a valid one."""
    caller = await presented_caller(request)
    return caller.user_id if caller else None


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
