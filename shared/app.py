"""The Litestar app every service is: shared resources, dependencies, problem responses, health.

`create_service_app` gives each service (and the local gateway, which mounts them all) the same
lifespan (one HTTP client, token verifier, data plane and Redis client per process), the same
dependencies (`caller`, `user`, `owner`, `data_plane`, `settings`, `cache`, `limiter`), RFC 9457
problem responses for every error, request ids, one access log line per request, `/health`,
`/ready` and OpenAPI at `/schema`.
"""

import asyncio
import functools
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from importlib.metadata import version
from typing import Any, cast

import httpx
import msgspec
import structlog
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.access import provide_owner, provide_user
from shared.cache import Cache
from shared.config import Settings, load_settings
from shared.data.plane import DataPlane, open_data_plane
from shared.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from shared.identity import Caller, TokenVerifier, request_caller
from shared.kv import Stores, open_stores
from shared.logging import ACCESS_LOGGER, configure_logging
from shared.ratelimit import (
    RATE_LIMIT_OPT,
    LocalLimiter,
    RateLimiter,
    RateLimitMiddleware,
    configured_policies,
)

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
PROBLEM_MEDIA_TYPE = "application/problem+json"
REQUEST_ID_HEADER = "x-request-id"
# What a client may choose as its request id; anything else is replaced, never logged as given.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

HTTP_CONNECT_TIMEOUT_S = 3.0
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)
READINESS_TIMEOUT_S = 1.0

# Litestar reports a missing body as the KeyError of its `data` argument.
MISSING_BODY_MESSAGE = "'data'"
MISSING_FIELD = re.compile(r"missing required field `(?P<field>[^`]+)`")

logger = structlog.stdlib.get_logger(__name__)
access_logger = structlog.stdlib.get_logger(ACCESS_LOGGER)


class NotReady(ServiceUnavailable):
    code = "not_ready"
    title = "Not ready"


class Health(msgspec.Struct, frozen=True):
    status: str
    service: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, str]
    """Per dependency: "ok", "unavailable" or "not_configured"."""


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
        route_handlers=[health, ready, metrics, *routers],
        lifespan=[shared_resources, *lifespans],
        # The in-process limiter outlives restarts of the lifespan (tests run several).
        state=State({"service": name, "settings": settings, "local_limiter": LocalLimiter()}),
        middleware=[RateLimitMiddleware],
        dependencies={
            "limiter": Provide(provide_limiter, sync_to_thread=False),
            "cache": Provide(provide_cache, sync_to_thread=False),
            "caller": Provide(provide_caller),
            "user": Provide(provide_user),
            "owner": Provide(provide_owner),
            "data_plane": Provide(provide_data_plane, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        exception_handlers={
            Problem: problem_response,
            ValidationException: validation_problem_response,
            HTTPException: http_problem_response,
            Exception: internal_error_response,
        },
        openapi_config=OpenAPIConfig(
            title=f"Sajtmaskin {name}",
            version=version("sajtmaskin"),
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    "apikey": SecurityScheme(
                        type="apiKey", name="apikey", security_scheme_in="header"
                    ),
                }
            ),
            # Either token, or none at all: anonymous callers are served too.
            security=[{"bearer": []}, {"apikey": []}, {}],
        ),
        # Our own structured logging replaces Litestar's; errors are logged by the handlers below.
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
            http1=True,
            http2=False,
            timeout=httpx.Timeout(
                settings.http_timeout_s,
                connect=min(HTTP_CONNECT_TIMEOUT_S, settings.http_timeout_s),
            ),
            limits=HTTP_LIMITS,
        )
        resources.push_async_callback(http.aclose)
        plane = await open_data_plane(settings, http)
        resources.push_async_callback(plane.close)
        app.state.http = http
        app.state.verifier = TokenVerifier(settings, http)
        app.state.data_plane = plane
        app.state.stores = await open_stores(settings, resources)
        app.state.cache = Cache(app.state.stores, settings.redis_key_prefix)
        app.state.limiter = RateLimiter(
            app.state.stores.limiter,
            key_prefix=settings.redis_key_prefix,
            policies=configured_policies(settings.rate_limits),
            local=app.state.local_limiter,
        )
        yield


async def provide_caller(request: Request[Any, Any, State]) -> Caller:
    """The verified caller of the request (anonymous without a token); 401 for a bad token."""
    return await request_caller(request)


def provide_data_plane(state: State) -> DataPlane:
    plane: DataPlane = state.data_plane
    return plane


def provide_cache(state: State) -> Cache:
    cache: Cache = state.cache
    return cache


def provide_limiter(state: State) -> RateLimiter:
    limiter: RateLimiter = state.limiter
    return limiter


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


@get(
    "/metrics",
    include_in_schema=False,
    sync_to_thread=False,
    media_type=CONTENT_TYPE_LATEST,
    opt={RATE_LIMIT_OPT: False},
)
def metrics() -> bytes:
    """Prometheus metrics of this process."""
    return generate_latest()


@get("/health", include_in_schema=False, sync_to_thread=False, opt={RATE_LIMIT_OPT: False})
def health(state: State) -> Health:
    """The process is up; says nothing about its dependencies (that is `/ready`)."""
    return Health(status="ok", service=state.service)


@get("/ready", include_in_schema=False, opt={RATE_LIMIT_OPT: False})
async def ready(state: State) -> Readiness:
    """Whether the database and Redis answer now; 503 `not_ready` naming those that do not."""
    plane: DataPlane = state.data_plane
    stores: Stores = state.stores
    # Each configured transport once: "redis" (TCP) and/or "upstash" (REST).
    redis = {store.name: store for store in (stores.cache, stores.sessions) if store is not None}
    names = ["database", *redis] if redis else ["database", "redis"]
    outcomes = await asyncio.gather(
        _check("database", plane.ping()),
        *(_check(name, store.ping()) for name, store in redis.items()),
        *([] if redis else [_not_configured()]),
    )
    checks = dict(zip(names, outcomes, strict=True))
    failed = [name for name, outcome in checks.items() if outcome == "unavailable"]
    if failed:
        raise NotReady(f"Unavailable: {', '.join(failed)}.", checks=checks)
    return Readiness(status="ready", checks=checks)


async def _check(name: str, probe: Awaitable[object]) -> str:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S):
            await probe
    except Exception as error:
        logger.warning("readiness check failed", check=name, error=type(error).__name__)
        return "unavailable"
    return "ok"


async def _not_configured() -> str:
    return "not_configured"


def problem_response(request: Request[Any, Any, Any], problem: Problem) -> Response[Any]:
    if problem.status >= 500:
        logger.warning("service problem", code=problem.code, status=problem.status)
    return _problem(request, problem)


def validation_problem_response(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[Any]:
    """422 `validation_failed` with one entry per invalid field, named as on the wire."""
    errors = [_invalid_field(item) for item in error.extra or () if isinstance(item, dict)]
    fields = [entry["field"] for entry in errors if entry["field"]]
    if fields:
        detail = f"Invalid: {', '.join(fields)}."
    elif errors:
        detail = errors[0]["message"]
    else:
        # Litestar's own sentence, e.g. "Missing required query parameter 'n' for path /x".
        detail = error.detail
    return _problem(request, ValidationFailed(detail, errors=errors))


def http_problem_response(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Litestar's own errors (unknown route, wrong method, malformed JSON, …) as problems."""
    if error.status_code >= 500:
        return internal_error_response(request, error)
    # Litestar's 4xx details describe the request ("JSON is malformed: …"), never internals; a
    # bare status phrase ("Not Found") gives way to our title.
    detail = error.detail if error.detail != HTTPStatus(error.status_code).phrase else None
    problem = _client_problem(error.status_code)(detail, headers=dict(error.headers or {}))
    return _problem(request, problem)


def internal_error_response(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """500 with nothing about the cause; the traceback goes to the log only."""
    logger.error("unhandled error", method=request.method, path=request.url.path, exc_info=error)
    return _problem(request, Problem())


def _problem(request: Request[Any, Any, Any], problem: Problem) -> Response[Any]:
    return Response(
        content=problem.body(instance=request.url.path),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _invalid_field(item: dict[str, Any]) -> dict[str, Any]:
    """One of Litestar's `{message, key, source}` entries as `{field, in, message}`."""
    message = str(item.get("message", ""))
    source = item.get("source")
    location = str(getattr(source, "value", source)) if source is not None else None
    key = item.get("key")
    # Litestar names the body itself `data`; a missing field is named only in msgspec's message.
    field = None if location == "body" and key == "data" else key
    if missing := MISSING_FIELD.search(message):
        field = f"{field}.{missing['field']}" if field else missing["field"]
    if location == "body" and field is None and message == MISSING_BODY_MESSAGE:
        message = "A request body is required"
    return {"field": field, "in": location, "message": message}


# Litestar's own 4xx errors as our problems; statuses without one get a code named here.
SHARED_PROBLEMS: dict[int, type[Problem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
}
LITESTAR_ERROR_CODES = {
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


@functools.cache
def _client_problem(status: int) -> type[Problem]:
    """The `Problem` class for one of Litestar's 4xx statuses."""
    if status in SHARED_PROBLEMS:
        return SHARED_PROBLEMS[status]
    phrase = HTTPStatus(status)
    attributes = {
        "status": status,
        "code": LITESTAR_ERROR_CODES.get(status, phrase.name.lower()),
        "title": phrase.phrase.capitalize(),
    }
    return cast(type[Problem], type(f"HTTP{status}", (Problem,), attributes))


class RequestContext:
    """Give every HTTP request an id (the client's `X-Request-ID` when sane), echo it in the
    response, bind it to the request's log records, and write one access line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            finally:
                # The path only: query strings can carry codes and tokens.
                access_logger.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if CLIENT_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex
