"""`/health` says the process runs; `/ready` says whether its database and Redis answer."""

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.app import create_service_app
from shared.config import Settings
from shared.local_stack import free_port
from tests.app.conftest import probe_router

Client = AsyncTestClient[Litestar]


async def test_health_names_the_service(probe: Client) -> None:
    response = await probe.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "probe"}


async def test_ready_when_the_database_and_redis_answer(probe: Client) -> None:
    response = await probe.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_ready_without_redis_configured(probe_settings: Settings) -> None:
    settings = msgspec.structs.replace(probe_settings, redis_url=None)
    async with AsyncTestClient(create_service_app("probe", [probe_router], settings)) as client:
        response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "not_configured"}


async def test_not_ready_while_the_database_is_down(probe_settings: Settings) -> None:
    closed_port = free_port()
    settings = msgspec.structs.replace(
        probe_settings, database_url=f"postgresql://authenticator@127.0.0.1:{closed_port}/postgres"
    )
    async with AsyncTestClient(create_service_app("probe", [probe_router], settings)) as client:
        health = await client.get("/health")
        response = await client.get("/ready")

    assert health.status_code == 200
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"] == {"database": "unavailable", "redis": "ok"}


async def test_not_ready_while_redis_is_down(probe_settings: Settings) -> None:
    settings = msgspec.structs.replace(
        probe_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    async with AsyncTestClient(create_service_app("probe", [probe_router], settings)) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unavailable"}


async def test_the_openapi_schema_describes_the_routes_but_not_health(probe: Client) -> None:
    response = await probe.get("/schema/openapi.json")

    schema = response.json()
    assert schema["info"]["title"] == "Sajtmaskin probe"
    assert "/probe/projects" in schema["paths"]
    assert "/health" not in schema["paths"]
    assert "/ready" not in schema["paths"]
