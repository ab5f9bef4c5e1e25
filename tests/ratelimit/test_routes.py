"""Limits as clients meet them: per route, per caller, with RateLimit-* headers and 429s."""

import asyncio

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.app import create_service_app
from shared.config import Settings
from shared.ratelimit import client_address
from tests.ratelimit.conftest import probe_router
from tests.world import a_user, bearer

DEPLOYS_PER_MINUTE = 8


async def test_allowed_responses_carry_the_limit(
    probe: AsyncTestClient[Litestar], database_url: str
) -> None:
    response = await probe.post("/probe/deploy", headers=bearer(a_user(database_url)))

    assert response.status_code == 201
    assert (
        response.headers["RateLimit-Limit"],
        response.headers["RateLimit-Remaining"],
        response.headers["RateLimit-Reset"],
    ) == ("8", "7", "8")


async def test_the_request_over_the_limit_gets_a_429_problem(
    probe: AsyncTestClient[Litestar],
    database_url: str,
) -> None:
    headers = bearer(a_user(database_url))
    for _ in range(DEPLOYS_PER_MINUTE):
        assert (await probe.post("/probe/deploy", headers=headers)).status_code == 201

    response = await probe.post("/probe/deploy", headers=headers)

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert response.headers["Retry-After"] == "8"  # 60 s / 8, rounded up
    assert response.headers["RateLimit-Remaining"] == "0"


async def test_each_user_has_a_limit_of_their_own(
    probe: AsyncTestClient[Litestar], database_url: str
) -> None:
    first = bearer(a_user(database_url))
    for _ in range(DEPLOYS_PER_MINUTE):
        await probe.post("/probe/deploy", headers=first)

    response = await probe.post("/probe/deploy", headers=bearer(a_user(database_url)))

    assert response.status_code == 201


async def test_routes_without_a_policy_get_the_read_limit(
    probe: AsyncTestClient[Litestar],
    database_url: str,
) -> None:
    response = await probe.get("/probe/read", headers=bearer(a_user(database_url)))

    assert response.headers["RateLimit-Limit"] == "150"


async def test_health_is_never_limited(probe: AsyncTestClient[Litestar]) -> None:
    response = await probe.get("/health")

    assert "RateLimit-Limit" not in response.headers


async def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    probe: AsyncTestClient[Litestar],
) -> None:
    statuses = [
        (
            await probe.post("/probe/deploy", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        ).status_code
        for n in range(DEPLOYS_PER_MINUTE + 1)
    ]

    assert statuses == [201] * DEPLOYS_PER_MINUTE + [429]


def test_a_trusted_proxy_names_the_client() -> None:
    scope = {
        "client": ("10.0.0.5", 443),
        "headers": [(b"x-forwarded-for", b"203.0.113.9, 198.51.100.7, 10.0.0.9")],
    }

    assert client_address(scope, ["10.0.0.0/8"]) == "198.51.100.7"  # type: ignore[arg-type]
    assert client_address(scope, []) == "10.0.0.5"  # type: ignore[arg-type]
    assert client_address(scope, ["192.0.2.1"]) == "10.0.0.5"  # type: ignore[arg-type]


async def test_two_instances_sharing_redis_let_exactly_the_limit_through(
    limited_settings: Settings,
    database_url: str,
) -> None:
    headers = bearer(a_user(database_url))
    # A roomy deadline: a hundred requests on one test loop must not fall back to the local limiter.
    settings = msgspec.structs.replace(limited_settings, rate_limit_timeout_ms=2000)
    first = create_service_app("probe", [probe_router], settings)
    second = create_service_app("probe", [probe_router], settings)
    async with AsyncTestClient(first) as one, AsyncTestClient(second) as two:
        responses = await asyncio.gather(
            *((one if n % 2 else two).post("/probe/deploy", headers=headers) for n in range(100))
        )

    statuses = [response.status_code for response in responses]
    assert (statuses.count(201), statuses.count(429)) == (
        DEPLOYS_PER_MINUTE,
        100 - DEPLOYS_PER_MINUTE,
    )
