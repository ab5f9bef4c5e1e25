"""Generations streamed as Server-Sent Events (`Accept: text/event-stream`): started, the
engine's content as it comes, the version, then done (the JSON answer's body) or error (the
problem); a client that hangs up mid-stream leaves the generation to finish, or to be refunded,
all the same."""

import asyncio
import json
from typing import Any

import msgspec
import pytest
from litestar import Litestar

from services.projects.app import create_app
from shared.config import Settings
from standins.v0 import V0StandIn
from tests.projects.test_generations import (
    Client,
    a_funded_user,
    a_key,
    client,
    diamonds_of,
    engine_settings,
    generations_of,
    ledger_of,
    v0,
)
from tests.world import bearer, sites

__all__ = ["client", "engine_settings", "v0"]  # fixtures used here

STREAM = {"Accept": "text/event-stream"}
PROMPT = "En frisörsalong i Lund"


def events_of(text: str) -> list[tuple[str, Any]]:
    """(event, data) of every event in a stream's text."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        if name:
            events.append((name, json.loads(data)))
    return events


async def test_a_streamed_generation_sends_started_content_version_then_done(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Salongen")
    key = a_key()

    response = await client.post(
        f"/projects/{site}/generate",
        json={"prompt": PROMPT, "idempotencyKey": key},
        headers={**bearer(alice), **STREAM},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"  # a gateway must not hold events back
    events = events_of(response.text)
    names = [name for name, _ in events]
    assert names[0] == "started"
    assert names[-2:] == ["version", "done"]
    assert "content" in names
    assert set(names[1:-2]) == {"content"}
    assert "".join(data["delta"] for name, data in events if name == "content")
    done = events[-1][1]
    assert events[0][1] == {"generationId": done["generationId"]}
    assert events[-2][1] == {"versionId": done["versionId"], "demoUrl": done["demoUrl"]}
    assert v0.calls["POST /chats"] == 1
    replay = await client.post(
        f"/projects/{site}/generate",
        json={"prompt": PROMPT, "idempotencyKey": key},
        headers=bearer(alice),
    )
    assert (replay.status_code, replay.json()) == (201, done)
    assert diamonds_of(database_url, alice) == 20


async def test_a_streamed_refine_streams_too(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Salongen")
    await client.post(
        f"/projects/{site}/generate",
        json={"prompt": PROMPT, "idempotencyKey": a_key()},
        headers=bearer(alice),
    )

    response = await client.post(
        f"/projects/{site}/refine",
        json={"message": "Lägg till priser", "idempotencyKey": a_key()},
        headers={**bearer(alice), **STREAM},
    )

    names = [name for name, _ in events_of(response.text)]
    assert (names[0], names[-1]) == ("started", "done")
    assert v0.calls["POST /chats/{chatId}/messages"] == 1
    assert diamonds_of(database_url, alice) == 14


async def test_a_failing_stream_ends_with_the_problem_and_the_charge_refunded(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Salongen")
    v0.fail_next(500, endpoint="POST /chats")

    response = await client.post(
        f"/projects/{site}/generate",
        json={"prompt": PROMPT, "idempotencyKey": a_key()},
        headers={**bearer(alice), **STREAM},
    )

    events = events_of(response.text)
    assert [name for name, _ in events] == ["started", "error"]
    assert (events[1][1]["status"], events[1][1]["code"]) == (503, "engine_unavailable")
    assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]


async def test_a_refused_stream_is_an_ordinary_problem_answer(
    client: Client, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 3)
    (site,) = sites(database_url, alice, "Salongen")

    response = await client.post(
        f"/projects/{site}/generate",
        json={"prompt": PROMPT, "idempotencyKey": a_key()},
        headers={**bearer(alice), **STREAM},
    )

    assert (response.status_code, response.json()["code"]) == (402, "insufficient_credits")


async def hang_up_after_started(app: Litestar, path: str, body: dict[str, Any], token: str) -> None:
    """Send the request straight to the app (ASGI), read until the `started` event, then hang
    up as a browser closing the tab does."""
    started = asyncio.Event()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and b"event: started" in message.get(
            "body", b""
        ):
            started.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver.local"),
            (b"content-type", b"application/json"),
            (b"accept", b"text/event-stream"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=10)  # type: ignore[arg-type]
    assert started.is_set()


async def until_ended(database_url: str, site: str) -> dict[str, Any]:
    for _ in range(200):
        (row,) = generations_of(database_url, site)
        if row["status"] != "pending":
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the generation never ended")


@pytest.mark.parametrize("engine_fails", [False, True], ids=["engine answers", "engine fails"])
async def test_a_client_that_hangs_up_does_not_stop_the_bookkeeping(
    engine_fails: bool, engine_settings: Settings, database_url: str, v0: V0StandIn
) -> None:
    alice = a_funded_user(database_url, 30)
    (site,) = sites(database_url, alice, "Salongen")
    v0.delay_next(0.5, endpoint="POST /chats")  # still working when the client leaves
    if engine_fails:
        v0.fail_next(500, endpoint="POST /chats")
    app = create_app(msgspec.structs.replace(engine_settings))

    async with app.lifespan():
        await hang_up_after_started(
            app,
            f"/projects/{site}/generate",
            {"prompt": PROMPT, "idempotencyKey": a_key()},
            alice.token,
        )
        ended = await until_ended(database_url, site)

    if engine_fails:
        assert ended["status"] == "failed"
        assert ledger_of(database_url, alice) == [("charge", -10), ("refund", 10)]
    else:
        assert ended["status"] == "done"
        assert ledger_of(database_url, alice) == [("charge", -10)]
        assert ended["demo_url"]
