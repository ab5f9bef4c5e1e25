"""Each request has an id, echoed to the client and bound to its log lines, and one access line:
one JSON object on stdout naming its route template, caller kind, status and duration."""

import json
import logging
import re
from datetime import datetime
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.app import create_service_app
from shared.config import Settings
from shared.logging import ACCESS_LOGGER
from tests.app.conftest import probe_router
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


def access_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON lines written to stdout since the last look, access lines only."""
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line]
    return [line for line in lines if line["logger"] == ACCESS_LOGGER]


async def test_each_request_writes_one_access_line_without_its_token(
    probe: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    token = a_guest().token
    access_lines(capfd)

    await probe.get(
        "/probe/whoami?code=one-time-secret", headers={**bearer(token), "X-Request-ID": "audit-7"}
    )

    [line] = access_lines(capfd)
    assert {key: line[key] for key in ("method", "route", "path", "status", "caller")} == {
        "method": "GET",
        "route": "/probe/whoami",
        "path": "/probe/whoami",
        "status": 200,
        "caller": "guest",
    }
    assert (line["event"], line["level"], line["request_id"]) == ("request", "info", "audit-7")
    assert line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
    assert token not in str(line)
    assert "one-time-secret" not in str(line)


async def test_the_access_line_names_the_route_template_and_the_kind_of_caller(
    probe: Client, capfd: pytest.CaptureFixture[str]
) -> None:
    access_lines(capfd)

    await probe.get("/health")
    await probe.get("/nowhere/42")
    await probe.get("/probe/whoami", headers=bearer("not-a-token"))

    health, unmatched, refused = access_lines(capfd)
    assert (health["route"], health["caller"]) == ("/health", None)
    assert (unmatched["route"], unmatched["path"], unmatched["status"]) == (
        "unmatched",
        "/nowhere/42",
        404,
    )
    assert (refused["status"], refused["caller"]) == (401, "refused")


async def test_a_requests_log_lines_share_its_id_and_the_access_lines_keys(
    probe: Client, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    access_lines(capfd)

    await probe.get("/probe/crash", headers={"X-Request-ID": "crash-2"})

    [error] = [record.msg for record in caplog.records if record.levelno >= logging.ERROR]
    [access] = access_lines(capfd)
    assert isinstance(error, dict)
    for line, level in ((error, "error"), (access, "info")):
        assert {"event", "level", "logger", "timestamp", "request_id"} <= line.keys()
        assert (line["level"], line["request_id"]) == (level, "crash-2")


async def test_no_access_lines_below_the_log_level(
    probe_settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    quiet = msgspec.structs.replace(probe_settings, log_level="warning")
    async with AsyncTestClient(create_service_app("probe", [probe_router], quiet)) as client:
        capfd.readouterr()
        answered = await client.get("/health")
        assert access_lines(capfd) == []

    assert answered.status_code == 200
