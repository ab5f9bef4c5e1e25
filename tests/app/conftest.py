"""A tiny service built with the shared factory: test-only routes that fail in every way."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import pytest
from litestar import Litestar, Router, get, post, route
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from psycopg.conninfo import make_conninfo

from shared.app import create_service_app
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import Conflict
from shared.identity import Caller
from shared.wire import RequestBody
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL

SECRET_IN_ERROR = "postgres://admin:hunter2@db.internal"


class ProjectCreate(RequestBody):
    project_name: str
    page_count: Annotated[int, msgspec.Meta(ge=1)]
    palette: tuple[str, ...] = ()


class ProjectCreated(msgspec.Struct, frozen=True, rename="camel"):
    project_name: str


@post("/projects")
async def create_project(data: JSONBody[ProjectCreate]) -> ProjectCreated:
    return ProjectCreated(project_name=data.project_name)


@post("/anything")
async def take_anything(data: JSONBody[dict[str, Any]]) -> None:
    """Any JSON object, to show how bodies are refused before a type is applied."""


@route("/touch", http_method=["POST", "PUT", "PATCH", "DELETE"], status_code=204)
async def touch() -> None:
    """A bodyless state change, as logout is."""


@get("/taken")
async def taken() -> None:
    raise Conflict("A project with that name already exists.", headers={"X-Probe": "yes"})


@get("/crash")
async def crash() -> None:
    raise RuntimeError(f"could not reach {SECRET_IN_ERROR}")


@get("/whoami")
async def whoami(caller: NamedDependency[Caller]) -> dict[str, str | None]:
    return {"kind": caller.kind, "userId": str(caller.user_id) if caller.user_id else None}


@get("/wiring")
async def wiring(
    data_plane: NamedDependency[DataPlane], settings: NamedDependency[Settings]
) -> dict[str, str]:
    return {"plane": data_plane.name, "audience": settings.jwt_audience}


probe_router = Router(
    path="/probe",
    route_handlers=[create_project, take_anything, touch, taken, crash, whoami, wiring],
)


@pytest.fixture(scope="session")
def probe_settings(database_url: str) -> Settings:
    """The probe service on the migrated test database (as PostgREST's login role) and Redis."""
    return Settings(
        database_url=make_conninfo(database_url, user="authenticator"),
        data_plane="postgres",
        jwt_secret=JWT_SECRET,
        redis_url=REDIS_URL,
    )


@pytest.fixture
async def probe(probe_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A client of the probe service, its lifespan running."""
    async with AsyncTestClient(
        create_service_app("probe", [probe_router], probe_settings)
    ) as client:
        yield client
