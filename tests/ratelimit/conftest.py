"""A probe service with one route per kind of limit, on the session database and real Redis."""

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from litestar import Litestar, Router, get, post
from litestar.testing import AsyncTestClient
from psycopg.conninfo import make_conninfo

from shared.app import create_service_app
from shared.config import Settings
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL


@get("/read", sync_to_thread=False)
def read() -> str:
    return "read"


@post("/deploy", opt={"rate_limit": "deploy"}, sync_to_thread=False)
def deploy() -> str:
    return "deployed"


@post("/view", opt={"rate_limit": "page_view"}, sync_to_thread=False)
def view() -> str:
    return "viewed"


@post("/register", opt={"rate_limit": "register"}, sync_to_thread=False)
def register() -> str:
    return "registered"


@post("/guest", opt={"rate_limit": "guest_session"}, sync_to_thread=False)
def guest() -> str:
    return "a guest session"


probe_router = Router(path="/probe", route_handlers=[read, deploy, view, register, guest])

ClientFactory = Callable[..., AsyncTestClient[Litestar]]


@pytest.fixture
def limited_settings(database_url: str) -> Settings:
    """Settings with a key prefix of their own, so each test starts with fresh limits."""
    return Settings(
        database_url=make_conninfo(database_url, user="authenticator"),
        jwt_secret=JWT_SECRET,
        redis_url=REDIS_URL,
        redis_key_prefix=f"test-{uuid.uuid4()}:",
    )


@pytest.fixture
async def probe(limited_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(
        create_service_app("probe", [probe_router], limited_settings)
    ) as client:
        yield client
