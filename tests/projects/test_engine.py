"""The code engine's client against the v0 stand-in over real HTTP: a prompt becomes a completed
version (waiting out a pending one), a refinement a new version, a template a chat; every way
v0 can fail becomes `EngineUnavailable` (try later) or `EngineRejected` (change the prompt), and
a POST is never sent twice.

The engine reaches no database, so these run once, not per data plane."""

import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from services.projects.engine import STREAM_LINE_LIMIT, Engine
from services.projects.models.engine import (
    Chat,
    Content,
    EngineEvent,
    EngineNotConfigured,
    EngineRejected,
    EngineUnavailable,
    Finished,
    Started,
)
from shared.config import Settings
from standins.http_server import serve_http
from standins.v0 import V0StandIn

DEMO_URL = re.compile(r"^https://demo-[a-z0-9]+\.vusercontent\.net$")
PROMPT = "A bakery in Malmö with sourdough and opening hours"


@pytest.fixture
def v0(served_v0: V0StandIn) -> V0StandIn:
    """The served stand-in, its controls and counts fresh for each test."""
    served_v0.pending_polls = 0
    served_v0.calls.clear()
    served_v0.received.clear()
    served_v0.chats.clear()
    return served_v0


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def engine_for(v0: V0StandIn, http: httpx.AsyncClient, **settings: Any) -> Engine:
    configured = msgspec.structs.replace(
        Settings(), **{**v0.configuration(), "v0_deadline_s": 10.0, **settings}
    )
    return Engine(configured, http, poll_first_s=0.02, poll_longest_s=0.1)


@pytest.fixture
def engine(v0: V0StandIn, http: httpx.AsyncClient) -> Engine:
    return engine_for(v0, http)


def page_of(chat: Chat) -> str:
    assert chat.latest_version is not None
    return next(file.content for file in chat.latest_version.files if file.name == "app/page.tsx")


def sent_body(v0: V0StandIn) -> Any:
    """The body of the last POST v0 received."""
    return json.loads([request for request in v0.received if request.method == "POST"][-1].content)


# A prompt becomes a site ------------------------------------------------------------------------


async def test_a_prompt_becomes_a_completed_version_with_a_preview_in_one_call(
    v0: V0StandIn, engine: Engine
) -> None:
    chat = await engine.create_chat(PROMPT, "standard")

    assert chat.latest_version is not None
    assert chat.latest_version.status == "completed"
    assert DEMO_URL.match(chat.latest_version.demo_url or "")
    assert chat.web_url.startswith("https://v0.app/chat/")
    assert chat.text
    assert PROMPT in page_of(chat)
    assert {file.name for file in chat.latest_version.files} >= {
        "app/page.tsx",
        "app/layout.tsx",
    }
    assert v0.calls == {"POST /chats": 1}
    assert sent_body(v0) == {
        "message": PROMPT,
        "modelConfiguration": {"modelId": "v0-pro"},
        "responseMode": "sync",
    }
    assert v0.received[-1].headers["authorization"] == f"Bearer {v0.api_key}"


async def test_the_pro_tier_asks_v0_for_its_largest_model(v0: V0StandIn, engine: Engine) -> None:
    await engine.create_chat(PROMPT, "pro")

    assert sent_body(v0)["modelConfiguration"] == {"modelId": "v0-max"}


async def test_a_pending_version_is_polled_until_it_completes(
    v0: V0StandIn, engine: Engine
) -> None:
    v0.pending_polls = 3

    chat = await engine.create_chat(PROMPT, "standard")

    assert chat.latest_version is not None
    assert chat.latest_version.status == "completed"
    assert DEMO_URL.match(chat.latest_version.demo_url or "")
    assert v0.calls == {"POST /chats": 1, "GET /chats/{chatId}": 4}


async def test_a_poll_that_fails_once_does_not_end_the_wait(v0: V0StandIn, engine: Engine) -> None:
    v0.pending_polls = 1
    v0.fail_next(502, endpoint="GET /chats/{chatId}")

    chat = await engine.create_chat(PROMPT, "standard")

    assert chat.latest_version is not None
    assert chat.latest_version.status == "completed"
    assert v0.calls["POST /chats"] == 1


async def test_a_version_still_pending_at_the_deadline_is_unavailable_and_names_its_chat(
    v0: V0StandIn, http: httpx.AsyncClient
) -> None:
    v0.pending_polls = 10_000
    engine = engine_for(v0, http, v0_deadline_s=0.5)

    with pytest.raises(EngineUnavailable) as raised:
        await engine.create_chat(PROMPT, "standard")

    assert raised.value.status == 503
    assert raised.value.code == "engine_unavailable"
    assert raised.value.chat_id in v0.chats
    assert "pending" in raised.value.reason
    assert v0.calls["POST /chats"] == 1


async def test_a_refinement_makes_a_new_version_of_the_same_chat(
    v0: V0StandIn, engine: Engine
) -> None:
    first = await engine.create_chat(PROMPT, "standard")
    v0.pending_polls = 1

    refined = await engine.send_message(first.id, "Add a page with the menu", "pro")

    assert refined.id == first.id
    assert refined.latest_version is not None
    assert first.latest_version is not None
    assert refined.latest_version.id != first.latest_version.id
    assert refined.latest_version.status == "completed"
    assert "Add a page with the menu" in page_of(refined)
    assert v0.calls["POST /chats/{chatId}/messages"] == 1
    assert sent_body(v0) == {
        "message": "Add a page with the menu",
        "modelConfiguration": {"modelId": "v0-max"},
        "responseMode": "sync",
    }


async def test_a_template_starts_a_chat_with_its_files(v0: V0StandIn, engine: Engine) -> None:
    chat = await engine.init_template("restaurant-landing")

    assert chat.latest_version is not None
    assert chat.latest_version.status == "completed"
    assert "restaurant-landing" in page_of(chat)
    assert v0.calls == {"POST /chats/init": 1}
    assert sent_body(v0) == {
        "type": "template",
        "templateId": "restaurant-landing",
        "chatPrivacy": "private",
    }


async def test_a_version_is_read_with_v0s_default_files(v0: V0StandIn, engine: Engine) -> None:
    chat = await engine.create_chat(PROMPT, "standard")
    assert chat.latest_version is not None

    version = await engine.version(chat.id, chat.latest_version.id)

    assert version.id == chat.latest_version.id
    assert version.status == "completed"
    assert version.demo_url == chat.latest_version.demo_url
    names = {file.name for file in version.files}
    assert names >= {"app/page.tsx", "package.json", "tsconfig.json"}
    assert v0.received[-1].url.params["includeDefaultFiles"] == "true"


# Streaming --------------------------------------------------------------------------------------


async def collect(events: AsyncIterator[EngineEvent]) -> list[EngineEvent]:
    return [event async for event in events]


async def test_a_stream_starts_with_the_chat_then_text_then_the_finished_chat(
    v0: V0StandIn, engine: Engine
) -> None:
    events = await collect(engine.stream_chat(PROMPT, "standard"))

    started, *contents, finished = events
    assert isinstance(started, Started)
    assert started.chat_id in v0.chats
    assert contents
    assert all(isinstance(event, Content) for event in contents)
    text = "".join(event.delta for event in contents if isinstance(event, Content))
    assert text == f"I built a site for: {PROMPT}"
    assert isinstance(finished, Finished)
    assert finished.chat.id == started.chat_id
    assert finished.chat.latest_version is not None
    assert finished.chat.latest_version.status == "completed"
    assert DEMO_URL.match(finished.chat.latest_version.demo_url or "")
    assert PROMPT in page_of(finished.chat)
    assert v0.calls == {"POST /chats": 1}
    assert v0.received[-1].headers["accept"] == "text/event-stream"
    assert sent_body(v0)["responseMode"] == "experimental_stream"


async def test_a_stream_that_ends_pending_is_polled_to_the_finished_chat(
    v0: V0StandIn, engine: Engine
) -> None:
    v0.pending_polls = 2

    events = await collect(engine.stream_chat(PROMPT, "standard"))

    assert isinstance(events[0], Started)
    assert isinstance(events[-1], Finished)
    assert events[-1].chat.latest_version is not None
    assert events[-1].chat.latest_version.status == "completed"
    assert v0.calls == {"POST /chats": 1, "GET /chats/{chatId}": 3}


async def test_a_streamed_refinement_finishes_with_the_new_version(
    v0: V0StandIn, engine: Engine
) -> None:
    first = await engine.create_chat(PROMPT, "standard")

    events = await collect(engine.stream_message(first.id, "Make it dark", "standard"))

    assert events[0] == Started(first.id)
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.chat.latest_version is not None
    assert first.latest_version is not None
    assert finished.chat.latest_version.id != first.latest_version.id
    assert "Make it dark" in page_of(finished.chat)


async def test_a_stream_whose_version_fails_is_unavailable(v0: V0StandIn, engine: Engine) -> None:
    v0.fail_next_version()

    with pytest.raises(EngineUnavailable) as raised:
        await collect(engine.stream_chat(PROMPT, "standard"))

    assert raised.value.chat_id in v0.chats


async def test_a_stream_v0_refuses_is_unavailable_before_any_event(
    v0: V0StandIn, engine: Engine
) -> None:
    v0.fail_next(500, "Internal error")
    stream = engine.stream_chat(PROMPT, "standard")

    with pytest.raises(EngineUnavailable):
        await anext(stream)

    assert v0.calls == {"POST /chats": 1}


async def test_a_stream_line_too_long_to_hold_ends_the_stream_unavailable(
    http: httpx.AsyncClient,
) -> None:
    async def endless_line() -> AsyncIterator[bytes]:
        yield b'data: {"object":"chat","id":"chat1234"}\n\n'
        for _ in range(STREAM_LINE_LIMIT // 65536 + 2):
            yield b"data: " + b"x" * 65536

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=endless_line()
        )

    with serve_http(handler) as url:
        settings = msgspec.structs.replace(Settings(), v0_api_key="v0_key", v0_api_url=url)
        events = Engine(settings, http).stream_chat(PROMPT, "standard")

        assert await anext(events) == Started("chat1234")
        with pytest.raises(EngineUnavailable) as raised:
            await anext(events)

    assert raised.value.chat_id == "chat1234"
    assert "stream line" in raised.value.reason


# Failures ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "Internal server error"),
        (429, "Rate limit exceeded"),
        (401, "Invalid API key"),
        (403, "Forbidden"),
    ],
)
async def test_v0_failing_or_refusing_our_key_is_unavailable_and_never_retried(
    v0: V0StandIn, engine: Engine, status: int, message: str
) -> None:
    v0.fail_next(status, message)

    with pytest.raises(EngineUnavailable) as raised:
        await engine.create_chat(PROMPT, "standard")

    assert raised.value.status == 503
    assert str(status) in raised.value.reason
    # The detail shown to users never carries v0's own text.
    assert message not in raised.value.detail
    assert v0.calls == {"POST /chats": 1}
    assert v0.chats == {}


@pytest.mark.parametrize("status", [400, 413, 422])
async def test_v0_refusing_the_prompt_is_rejected_with_v0s_message(
    v0: V0StandIn, engine: Engine, status: int
) -> None:
    v0.fail_next(status, "The message is too long for this model")

    with pytest.raises(EngineRejected) as raised:
        await engine.send_message("someChat123", "x" * 10, "standard")

    assert raised.value.status == 422
    assert raised.value.code == "engine_rejected"
    assert raised.value.detail == "The message is too long for this model"
    assert v0.calls == {"POST /chats/{chatId}/messages": 1}


async def test_a_wrong_key_is_unavailable(v0: V0StandIn, http: httpx.AsyncClient) -> None:
    engine = engine_for(v0, http, v0_api_key="v0_wrong_key")

    with pytest.raises(EngineUnavailable) as raised:
        await engine.create_chat(PROMPT, "standard")

    assert "401" in raised.value.reason


async def test_a_failed_version_is_unavailable(v0: V0StandIn, engine: Engine) -> None:
    v0.fail_next_version()

    with pytest.raises(EngineUnavailable) as raised:
        await engine.create_chat(PROMPT, "standard")

    assert "failed" in raised.value.reason
    assert raised.value.chat_id in v0.chats


async def test_a_version_that_fails_while_pending_is_unavailable(
    v0: V0StandIn, engine: Engine
) -> None:
    v0.pending_polls = 2
    v0.fail_next_version()

    with pytest.raises(EngineUnavailable):
        await engine.create_chat(PROMPT, "standard")

    assert v0.calls == {"POST /chats": 1, "GET /chats/{chatId}": 3}


async def test_an_answer_slower_than_v0s_timeout_is_unavailable_and_not_retried(
    v0: V0StandIn, http: httpx.AsyncClient
) -> None:
    engine = engine_for(v0, http, v0_timeout_s=0.3)
    v0.delay_next(1.5, endpoint="POST /chats")

    with pytest.raises(EngineUnavailable) as raised:
        await engine.create_chat(PROMPT, "standard")

    assert "in time" in raised.value.reason
    assert v0.calls == {"POST /chats": 1}


async def test_an_answer_slower_than_the_deadline_is_unavailable(
    v0: V0StandIn, http: httpx.AsyncClient
) -> None:
    engine = engine_for(v0, http, v0_deadline_s=0.3)
    v0.delay_next(1.5, endpoint="POST /chats")

    with pytest.raises(EngineUnavailable):
        await engine.create_chat(PROMPT, "standard")


async def test_v0_out_of_reach_is_unavailable(http: httpx.AsyncClient) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings = msgspec.structs.replace(
        Settings(), v0_api_key="v0_key", v0_api_url=f"http://127.0.0.1:{port}/v1"
    )

    with pytest.raises(EngineUnavailable) as raised:
        await Engine(settings, http).create_chat(PROMPT, "standard")

    assert "reached" in raised.value.reason


async def test_refining_a_chat_v0_does_not_know_is_unavailable(engine: Engine) -> None:
    with pytest.raises(EngineUnavailable) as raised:
        await engine.send_message("noSuchChat1", "Add a menu", "standard")

    assert "404" in raised.value.reason


async def test_without_a_key_nothing_is_sent(v0: V0StandIn, http: httpx.AsyncClient) -> None:
    engine = engine_for(v0, http, v0_api_key=None)

    assert not engine.configured
    with pytest.raises(EngineNotConfigured) as raised:
        await engine.create_chat(PROMPT, "standard")
    with pytest.raises(EngineNotConfigured):
        await collect(engine.stream_chat(PROMPT, "standard"))

    assert raised.value.status == 503
    assert raised.value.code == "engine_not_configured"
    assert v0.total_calls() == 0


# The stand-in speaks v0's wire format -----------------------------------------------------------


@pytest.fixture
def v0_api(v0: V0StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{v0.base_url}/v1", headers={"Authorization": f"Bearer {v0.api_key}"}
    ) as client:
        yield client


def test_the_standin_refuses_a_missing_key_as_v0_does(v0: V0StandIn) -> None:
    answer = httpx.post(f"{v0.base_url}/v1/chats", json={"message": "hi"})

    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "unauthorized_error"
    assert set(answer.json()["error"]) == {"message", "type"}


def test_the_standin_refuses_unknown_fields_as_v0_does(v0_api: httpx.Client) -> None:
    answer = v0_api.post("/chats", json={"message": "hi", "prompt": "hi"})

    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "unprocessable_entity_error"
    assert "'prompt'" in answer.json()["error"]["message"]


def test_the_standins_async_answer_is_pending_then_completed(
    v0: V0StandIn, v0_api: httpx.Client
) -> None:
    v0.pending_polls = 1

    created = v0_api.post("/chats", json={"message": "hi", "responseMode": "async"}).json()
    looks = [v0_api.get(f"/chats/{created['id']}").json() for _ in range(2)]

    assert created["latestVersion"]["status"] == "pending"
    assert [look["latestVersion"]["status"] for look in looks] == ["pending", "completed"]


def test_the_standins_chat_has_every_field_v0_requires(v0_api: httpx.Client) -> None:
    chat = v0_api.post("/chats", json={"message": "hi"}).json()

    assert chat.keys() >= {
        "id",
        "object",
        "shareable",
        "privacy",
        "createdAt",
        "favorite",
        "authorId",
        "webUrl",
        "apiUrl",
        "url",
        "messages",
        "text",
        "permissions",
        "metadata",
        "latestVersion",
    }
    assert chat["object"] == "chat"
    assert chat["createdAt"].endswith("Z")
    assert chat["latestVersion"].keys() >= {"id", "object", "status", "createdAt", "files"}
    assert all(
        file.keys() == {"object", "name", "content", "locked"}
        for file in chat["latestVersion"]["files"]
    )
    assert {message["role"] for message in chat["messages"]} == {"user", "assistant"}
