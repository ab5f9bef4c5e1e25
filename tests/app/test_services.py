"""Each service runs alone under its own prefix; the gateway mounts them all in one app."""

import pytest
from litestar.testing import AsyncTestClient

from services import SERVICE_NAMES, load_app_factory
from services.gateway import create_gateway
from shared.config import Settings


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_each_service_starts_alone(probe_settings: Settings, name: str) -> None:
    async with AsyncTestClient(load_app_factory(name)(probe_settings)) as client:
        health = await client.get("/health")
        schema = await client.get("/schema/openapi.json")

    assert health.json() == {"status": "ok", "service": name}
    assert schema.json()["info"]["title"] == f"Sajtmaskin {name}"


async def test_the_gateway_is_ready_with_every_service_mounted(probe_settings: Settings) -> None:
    async with AsyncTestClient(create_gateway(probe_settings)) as client:
        response = await client.get("/ready")

    assert response.status_code == 200


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service 'payments'"):
        load_app_factory("payments")
