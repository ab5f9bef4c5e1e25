"""Browsers: which origins may call the API with credentials, and one rule against cross-site
requests that ride on our cookies.

Cookies go with every request a browser makes to our host, whichever page made it; SameSite=Lax
stops cross-site POSTs from forms on most browsers, not all requests on all browsers. So every
cookie-authenticated state change (POST, PUT, PATCH, DELETE carrying a `sajtmaskin_*` cookie and
no Authorization header) must come from a page of ours: its `Origin` is an allowed origin (CORS
`CORS_ORIGINS`, default APP_BASE_URL's), the public origin of the API (PUBLIC_BASE_URL) or the
origin the request was sent to; without an `Origin`, its `Sec-Fetch-Site` says `same-origin` or
`none` (typed by the user). Anything else is a 403 `cross_site_request`. A request with neither
header is not a browser's (curl, servers, webhooks) and passes, as does one with a bearer token,
which a cross-site page cannot attach. And no answer of ours is to be sniffed into another
type than the one it names (`NoSniff`).
"""

from urllib.parse import urlsplit

from litestar.config.cors import CORSConfig
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from shared.config import Settings
from shared.errors import Forbidden
from shared.identity import ACCESS_COOKIE

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OUR_COOKIES_PREFIX = "sajtmaskin_"
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})

# Headers a browser script may read from our responses: limits, retry hints, request ids and
# whether a charge was a replay.
EXPOSED_HEADERS = [
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "X-Request-ID",
    "Idempotent-Replayed",
]
# Headers a browser script may send: tokens, JSON bodies, its request id and idempotency keys.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "apikey", "X-Request-ID", "Idempotency-Key"]
ALLOWED_METHODS: list[str] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PREFLIGHT_MAX_AGE_S = 600

assert ACCESS_COOKIE.startswith(OUR_COOKIES_PREFIX)


class CrossSiteRequest(Forbidden):
    code = "cross_site_request"
    title = "Cross-site request refused"


def cors_config(settings: Settings) -> CORSConfig:
    """CORS for the allowed browser origins, with credentials (cookies)."""
    return CORSConfig(
        allow_origins=list(settings.allowed_origins),
        allow_methods=ALLOWED_METHODS,  # type: ignore[arg-type]
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_S,
    )


class CrossSiteGuard:
    """Refuse a cookie-authenticated state change that a page of another site made."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] in UNSAFE_METHODS:
            _refuse_cross_site(scope)
        await self.app(scope, receive, send)


def _refuse_cross_site(scope: Scope) -> None:
    headers = Headers.from_scope(scope)
    if "authorization" in headers or not _carries_our_cookies(headers.get("cookie", "")):
        return
    origin = headers.get("origin")
    if origin is not None:
        if origin.rstrip("/") not in _trusted_origins(scope, headers):
            raise CrossSiteRequest(f"Requests from {origin} may not change anything here.")
        return
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in TRUSTED_FETCH_SITES:
        raise CrossSiteRequest("Requests from another site may not change anything here.")


def _carries_our_cookies(cookie_header: str) -> bool:
    return any(
        pair.strip().startswith(OUR_COOKIES_PREFIX) for pair in cookie_header.split(";") if pair
    )


def _trusted_origins(scope: Scope, headers: Headers) -> set[str]:
    settings: Settings = scope["app"].state.settings
    public = urlsplit(settings.public_base_url)
    trusted = {*settings.allowed_origins, f"{public.scheme}://{public.netloc}"}
    # The origin the request was sent to: a page of this very host (e.g. the API docs).
    if host := headers.get("host"):
        trusted.add(f"{scope.get('scheme', 'http')}://{host}")
    return trusted


class NoSniff(ASGIMiddleware):
    """`X-Content-Type-Options: nosniff` on every answer, problems included: a browser must not
    read anything we send (an uploaded file above all) as another type than the one we name."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-content-type-options"
                ]
                message["headers"] = [*headers, (b"x-content-type-options", b"nosniff")]
            await send(message)

        await next_app(scope, receive, send_nosniff)
