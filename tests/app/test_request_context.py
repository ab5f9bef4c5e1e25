"""Each request has an id, echoed to the client and bound to its one access log line."""

import logging
import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.logging import ACCESS_LOGGER
from tests.world import a_guest, bearer

Client = AsyncTestClient[Litestar]


async def test_a_client_request_id_is_echoed(probe: Client) -> None:
    response = await probe.get("/health", headers={"X-Request-ID": "checkout-42.retry_1"})

    assert response.headers["x-request-id"] == "checkout-42.retry_1"


async def test_a_request_id_is_generated_when_none_is_sent(probe: Client) -> None:
    response = await probe.get("/health")

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


@pytest.mark.parametrize("unsafe", ["has spaces", "x" * 129, 'quote"d', "{json}"])
async def test_an_unsafe_request_id_is_replaced(probe: Client, unsafe: str) -> None:
    response = await probe.get("/health", headers={"X-Request-ID": unsafe})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_error_responses_carry_the_request_id(probe: Client) -> None:
    unmatched = await probe.get("/nowhere", headers={"X-Request-ID": "lost-1"})
    crashed = await probe.get("/probe/crash", headers={"X-Request-ID": "crash-1"})

    assert unmatched.headers["x-request-id"] == "lost-1"
    assert crashed.headers["x-request-id"] == "crash-1"


async def test_each_request_writes_one_access_line_without_its_token(
    probe: Client, caplog: pytest.LogCaptureFixture
) -> None:
    token = a_guest().token

    await probe.get(
        "/probe/whoami?code=one-time-secret", headers={**bearer(token), "X-Request-ID": "audit-7"}
    )

    lines = [record.msg for record in caplog.records if record.name == ACCESS_LOGGER]
    assert len(lines) == 1
    line = lines[0]
    assert isinstance(line, dict)
    assert {key: line[key] for key in ("method", "path", "status", "request_id")} == {
        "method": "GET",
        "path": "/probe/whoami",
        "status": 200,
        "request_id": "audit-7",
    }
    assert line["duration_ms"] >= 0
    assert token not in str(line)
    assert "one-time-secret" not in str(line)
    assert all(record.levelno < logging.WARNING for record in caplog.records)
