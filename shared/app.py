"""The app factory: every service (and the local gateway, which mounts them all) is one
`create_service_app` call.

Each app gets the same lifespan (one HTTP client, token verifier, data plane, Redis stores, cache
and rate limiter per process), the same dependencies (`caller`, `user`, `owner`, `data_plane`,
`settings`, `cache`, `limiter`), problem responses for every error (`shared.problems`), CORS,
the cross-site rule and `nosniff` for browsers (`shared.cross_site`), rate limits, request ids,
request metrics and access lines (`shared.logging`), calls to third parties counted
(`shared.metrics`), `/health`, `/ready`, `/metrics` (`shared.health`) and offline API docs at
`/schema` (`shared.docs`).
"""

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from importlib.metadata import version
from typing import Any

import httpx
from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide

from shared.access import provide_owner, provide_user
from shared.cache import Cache
from shared.config import Settings, load_settings
from shared.cross_site import CrossSiteGuard, NoSniff, cors_config
from shared.data.plane import DataPlane, open_data_plane
from shared.docs import openapi_config
from shared.health import SERVICE_ROUTES
from shared.identity import Caller, TokenVerifier, request_caller
from shared.kv import open_stores
from shared.logging import RequestContext, configure_logging
from shared.metrics import MeasuredTransport, Upstreams, upstream_urls
from shared.problems import EXCEPTION_HANDLERS, document_problems
from shared.ratelimit import LocalLimiter, RateLimiter, RateLimitMiddleware, configured_policies
from shared.session_watch import SessionWatch
from shared.wire import ApiRequest

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]

HTTP_CONNECT_TIMEOUT_S = 3.0
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)


def create_service_app(
    name: str,
    routers: Sequence[Router],
    settings: Settings | None = None,
    lifespans: Sequence[Lifespan] = (),
) -> Litestar:
    """The app serving `routers` (each under its service's path prefix) as service `name`;
    `lifespans` run inside the shared one (e.g. a service's background worker), in order."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app = Litestar(
        route_handlers=[*SERVICE_ROUTES, *routers],
        lifespan=[shared_resources, *lifespans],
        on_startup=[document_problems],
        # The in-process limiter outlives restarts of the lifespan (tests run several).
        state=State({"service": name, "settings": settings, "local_limiter": LocalLimiter()}),
        request_class=ApiRequest,
        cors_config=cors_config(settings),
        # The cross-site rule first: a refused request spends nobody's rate limit.
        middleware=[NoSniff(), CrossSiteGuard, RateLimitMiddleware],
        dependencies={
            "limiter": Provide(provide_limiter, sync_to_thread=False),
            "cache": Provide(provide_cache, sync_to_thread=False),
            "caller": Provide(provide_caller),
            "user": Provide(provide_user),
            "owner": Provide(provide_owner),
            "data_plane": Provide(provide_data_plane, sync_to_thread=False),
            "session_watch": Provide(provide_session_watch, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(f"Sajtmaskin {name}", version("sajtmaskin")),
        # Our own structured logging replaces Litestar's; errors are logged by the handlers.
        logging_config=None,
    )
    # The outermost layer, so that requests no route matched (404, 405) get an id and a log line.
    app.asgi_handler = RequestContext(app.asgi_handler)
    return app


@asynccontextmanager
async def shared_resources(app: Litestar) -> AsyncIterator[None]:
    """Open the process's shared clients on startup and close them, in reverse, on shutdown."""
    settings: Settings = app.state.settings
    async with AsyncExitStack() as resources:
        http = httpx.AsyncClient(
            # Every call to a third party is counted and timed by upstream (`shared.metrics`).
            transport=MeasuredTransport(
                httpx.AsyncHTTPTransport(http1=True, http2=False, limits=HTTP_LIMITS),
                Upstreams(upstream_urls(settings)),
            ),
            timeout=httpx.Timeout(
                settings.http_timeout_s,
                connect=min(HTTP_CONNECT_TIMEOUT_S, settings.http_timeout_s),
            ),
        )
        resources.push_async_callback(http.aclose)
        plane = await open_data_plane(settings, http)
        resources.push_async_callback(plane.close)
        app.state.http = http
        app.state.verifier = TokenVerifier(settings, http)
        app.state.data_plane = plane
        app.state.session_watch = SessionWatch()
        await resources.enter_async_context(app.state.session_watch.watching(settings))
        app.state.stores = await open_stores(settings, resources)
        app.state.cache = Cache(app.state.stores, settings.redis_key_prefix)
        app.state.limiter = RateLimiter(
            app.state.stores.limiter,
            key_prefix=settings.redis_key_prefix,
            policies=configured_policies(settings.rate_limits),
            local=app.state.local_limiter,
        )
        # What exists now lives as long as the process: out of the collector's sight, full
        # collections stay short (a 100 ms pause per request burst otherwise).
        gc.freeze()
        yield


async def provide_caller(request: Request[Any, Any, State]) -> Caller:
    """The verified caller of the request (anonymous without a token); 401 for a bad token."""
    return await request_caller(request)


def provide_data_plane(state: State) -> DataPlane:
    plane: DataPlane = state.data_plane
    return plane


def provide_session_watch(state: State) -> SessionWatch:
    watch: SessionWatch = state.session_watch
    return watch


def provide_cache(state: State) -> Cache:
    cache: Cache = state.cache
    return cache


def provide_limiter(state: State) -> RateLimiter:
    limiter: RateLimiter = state.limiter
    return limiter


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings
