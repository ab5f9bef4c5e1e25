"""The routes every service has: `/health` (the process is up), `/ready` (its database and
Redis answer) and `/metrics` (Prometheus). None is rate limited or in the API docs."""

import asyncio
from collections.abc import Awaitable

import msgspec
import structlog
from litestar import get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST

from shared.data.plane import DataPlane
from shared.errors import ServiceUnavailable
from shared.kv import Stores
from shared.metrics import render
from shared.ratelimit import RATE_LIMIT_OPT

READINESS_TIMEOUT_S = 1.0

logger = structlog.stdlib.get_logger(__name__)


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


@get(
    "/metrics",
    include_in_schema=False,
    sync_to_thread=False,
    media_type=CONTENT_TYPE_LATEST,
    opt={RATE_LIMIT_OPT: False},
)
def metrics(state: State) -> bytes:
    """Prometheus metrics of this process, each labelled with its service (`shared.metrics`)."""
    return render(state.service)


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


SERVICE_ROUTES = (health, ready, metrics)
