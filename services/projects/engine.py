"""The code engine: v0's Platform API v1, which turns a prompt into a site's code and a preview.

One `Engine` per app, on the process's shared HTTP client, with v0's own timeout
(`V0_TIMEOUT_S`, a synchronous generation is long) and a deadline for a whole generation
(`V0_DEADLINE_S`). A POST is never retried: v0 may have started (and billed us for) a
generation whose answer was lost, and a second one would be a second version. A GET is safe to
repeat, so polling a pending version tolerates a few transient failures.

v0's answers are read into `services.projects.models.engine` (unknown fields ignored), and every
failure becomes one of three problems: `EngineRejected` (422, the prompt's fault, with v0's
message), `EngineUnavailable` (503, anything else) or `EngineNotConfigured` (503, no key).
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec
import structlog

from services.projects.models.engine import (
    Chat,
    Content,
    EngineEvent,
    EngineFile,
    EngineNotConfigured,
    EngineRejected,
    EngineUnavailable,
    Finished,
    Started,
    Version,
)
from shared.config import Settings

T = TypeVar("T")

logger = structlog.stdlib.get_logger(__name__)

MODEL_IDS = {"standard": "v0-pro", "pro": "v0-max"}
"""Our model tiers (billing's) → v0's modelId."""

CONNECT_TIMEOUT_S = 5.0
POLL_FIRST_S = 0.5
"""The first wait before looking at a pending version again; each wait grows by POLL_GROWTH."""
POLL_GROWTH = 1.5
POLL_LONGEST_S = 5.0
"""The original polled every 4 s; waits grow to a little more than that and stay there."""
POLL_FAILURES_TOLERATED = 3
"""Consecutive failed looks at a pending version (5xx, timeouts) before giving up early."""
STREAM_LINE_LIMIT = 1024 * 1024
"""The longest line of v0's event stream we hold (the original capped its buffer at 1 MB)."""
MESSAGE_LIMIT = 500
"""The most of v0's error message kept: it names the problem in a sentence."""
REJECTED_STATUSES = frozenset({400, 413, 422})
"""v0's answers that are the request's own fault; every other error is v0's or ours."""


class Engine:
    """v0 for one app: create chats from prompts, refine them, start them from templates, and
    read their versions."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        poll_first_s: float = POLL_FIRST_S,
        poll_longest_s: float = POLL_LONGEST_S,
    ) -> None:
        self._key = settings.v0_api_key
        self._base = settings.v0_api_url.rstrip("/")
        self._timeout_s = settings.v0_timeout_s
        self._deadline_s = settings.v0_deadline_s
        self._http = http
        self._poll_first_s = poll_first_s
        self._poll_longest_s = poll_longest_s

    @property
    def configured(self) -> bool:
        return bool(self._key)

    # Generations ---------------------------------------------------------------------------------

    async def create_chat(self, prompt: str, model: str) -> Chat:
        """A new chat whose first version is built from `prompt`, waited for until completed."""
        deadline = self._start()
        chat = await self._post_chat(
            "/chats", _message_body(prompt, model, "sync"), deadline, answer=Chat
        )
        return await self._until_done(chat, deadline)

    async def send_message(self, chat_id: str, message: str, model: str) -> Chat:
        """The chat refined by `message`: its new latest version, waited for until completed."""
        deadline = self._start()
        chat = await self._post_chat(
            f"/chats/{quote(chat_id, safe='')}/messages",
            _message_body(message, model, "sync"),
            deadline,
            answer=Chat,
        )
        return await self._until_done(chat, deadline)

    async def init_template(self, template_id: str) -> Chat:
        """A new chat started from v0's template `template_id` (no generation, no tokens)."""
        deadline = self._start()
        chat = await self._post_chat(
            "/chats/init",
            {"type": "template", "templateId": template_id, "chatPrivacy": "private"},
            deadline,
            answer=Chat,
        )
        return await self._until_done(chat, deadline)

    async def init_files(self, files: list[EngineFile]) -> Chat:
        """A new chat whose first version is `files` as they are (no generation, no tokens): a
        site started from a cached template gets a chat of its own to refine, never the chat
        the cache entry was made in (which another site, or tenant, continues)."""
        deadline = self._start()
        chat = await self._post_chat(
            "/chats/init",
            {
                "type": "files",
                "files": [
                    {"name": file.name, "content": file.content, "locked": file.locked}
                    for file in files
                ],
                "chatPrivacy": "private",
            },
            deadline,
            answer=Chat,
        )
        return await self._until_done(chat, deadline)

    def stream_chat(self, prompt: str, model: str) -> AsyncIterator[EngineEvent]:
        """`create_chat` as it happens: Started, Content…, then Finished with the chat."""
        return self._stream("/chats", _message_body(prompt, model, "experimental_stream"))

    def stream_message(self, chat_id: str, message: str, model: str) -> AsyncIterator[EngineEvent]:
        """`send_message` as it happens: Started, Content…, then Finished with the chat."""
        return self._stream(
            f"/chats/{quote(chat_id, safe='')}/messages",
            _message_body(message, model, "experimental_stream"),
        )

    async def version(self, chat_id: str, version_id: str) -> Version:
        """One version of a chat with all its files, v0's default ones included (what a
        deployment needs)."""
        deadline = self._start()
        response = await self._send(
            "GET",
            f"/chats/{quote(chat_id, safe='')}/versions/{quote(version_id, safe='')}",
            deadline,
            params={"includeDefaultFiles": "true"},
        )
        return _decode(response, Version)

    # Waiting for a version -----------------------------------------------------------------------

    def _start(self) -> float:
        if not self._key:
            raise EngineNotConfigured()
        return time.monotonic() + self._deadline_s

    async def _until_done(self, chat: Chat, deadline: float) -> Chat:
        """`chat` once its latest version is completed: polls GET /chats/{id} with growing waits
        while it is pending (or missing, as a sync answer can be) until the deadline."""
        wait = self._poll_first_s
        failures = 0
        while True:
            version = chat.latest_version
            if version is not None and version.status == "completed":
                return chat
            if version is not None and version.status == "failed":
                raise EngineUnavailable(f"v0 version {version.id} failed", chat_id=chat.id)
            left = deadline - time.monotonic()
            if left > 0:
                await asyncio.sleep(min(wait, left))
                wait = min(wait * POLL_GROWTH, self._poll_longest_s)
            if time.monotonic() >= deadline:
                raise EngineUnavailable(
                    f"v0 chat {chat.id} was still pending after {self._deadline_s:g}s",
                    chat_id=chat.id,
                )
            try:
                chat = await self._get_chat(chat.id, deadline)
            except EngineUnavailable as error:
                failures += 1
                if failures >= POLL_FAILURES_TOLERATED or time.monotonic() >= deadline:
                    error.chat_id = chat.id
                    raise
                logger.warning("v0 poll failed; polling on", chat_id=chat.id, reason=error.reason)
            else:
                failures = 0

    async def _get_chat(self, chat_id: str, deadline: float) -> Chat:
        response = await self._send("GET", f"/chats/{quote(chat_id, safe='')}", deadline)
        return _decode(response, Chat)

    async def _post_chat(
        self, path: str, body: dict[str, Any], deadline: float, *, answer: type[T]
    ) -> T:
        return _decode(await self._send("POST", path, deadline, json=body), answer)

    # HTTP ----------------------------------------------------------------------------------------

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "User-Agent": "sajtmaskin", **extra}

    def _timeout(self, deadline: float) -> httpx.Timeout:
        """v0's timeout for one call, but never past the generation's deadline."""
        left = max(deadline - time.monotonic(), 0.001)
        read = min(self._timeout_s, left)
        return httpx.Timeout(read, connect=min(CONNECT_TIMEOUT_S, read))

    async def _send(
        self,
        method: str,
        path: str,
        deadline: float,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call to v0 (never retried here); a non-2xx answer raised as our problem."""
        if time.monotonic() >= deadline:
            raise EngineUnavailable(
                f"the deadline of {self._deadline_s:g}s passed before {method} {path}"
            )
        try:
            response = await self._http.request(
                method,
                f"{self._base}{path}",
                json=json,
                params=params,
                headers=self._headers(),
                timeout=self._timeout(deadline),
            )
        except httpx.HTTPError as error:
            raise _transport_failure(method, path, error) from error
        if not response.is_success:
            raise _answer_failure(response)
        return response

    # Streaming -----------------------------------------------------------------------------------

    async def _stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[EngineEvent]:
        deadline = self._start()
        last: Chat | None = None
        started = False
        try:
            async with self._http.stream(
                "POST",
                f"{self._base}{path}",
                json=body,
                headers=self._headers(Accept="text/event-stream", **{"Cache-Control": "no-cache"}),
                timeout=self._timeout(deadline),
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise _answer_failure(response)
                async for data in _sse_data(response):
                    if data == "[DONE]":
                        break
                    event = _stream_object(data)
                    if event is None:
                        continue
                    if isinstance(event, Chat):
                        last = event
                        if not started:
                            started = True
                            yield Started(event.id)
                    elif started:
                        yield event
                    if time.monotonic() >= deadline:
                        raise EngineUnavailable(
                            f"v0's stream ran past the deadline of {self._deadline_s:g}s",
                            chat_id=last.id if last else None,
                        )
        except httpx.HTTPError as error:
            failure = _transport_failure("POST", path, error)
            failure.chat_id = last.id if last else None
            raise failure from error
        except EngineUnavailable as failure:
            if failure.chat_id is None and last is not None:
                failure.chat_id = last.id
            raise
        if last is None:
            raise EngineUnavailable("v0's stream ended before it named a chat")
        # The stream may end with the version still pending (or without one): poll like sync.
        yield Finished(await self._until_done(last, deadline))


# Helpers -----------------------------------------------------------------------------------------


def _message_body(message: str, model: str, mode: str) -> dict[str, Any]:
    try:
        model_id = MODEL_IDS[model]
    except KeyError:
        raise ValueError(
            f"unknown model tier {model!r}; expected one of {list(MODEL_IDS)}"
        ) from None
    return {"message": message, "modelConfiguration": {"modelId": model_id}, "responseMode": mode}


def _decode(response: httpx.Response, answer: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=answer, strict=False)
    except msgspec.DecodeError as error:
        raise EngineUnavailable(
            f"v0 answered {response.request.url.path} in an unexpected shape: {error}"
        ) from None


def _transport_failure(method: str, path: str, error: httpx.HTTPError) -> EngineUnavailable:
    if isinstance(error, httpx.TimeoutException):
        reason = f"v0 did not answer {method} {path} in time ({type(error).__name__})"
    elif isinstance(error, httpx.ConnectError):
        reason = f"v0 could not be reached ({error})"
    else:
        reason = f"v0 call {method} {path} failed: {type(error).__name__}: {error}"
    logger.warning("v0 unavailable", reason=reason)
    return EngineUnavailable(reason)


def _answer_failure(response: httpx.Response) -> EngineRejected | EngineUnavailable:
    """v0's error answer (`{"error": {"message", "type"}}`) as our problem."""
    status = response.status_code
    kind, message = _error_of(response)
    if status in REJECTED_STATUSES:
        return EngineRejected(message, status=status)
    reason = f"v0 answered {status} {kind}: {message}"
    if status in (401, 403):
        # Our key is wrong, revoked or lacks rights: an operator must act, no user can.
        logger.error("v0 refused our API key", status=status, type=kind, message=message)
    else:
        logger.warning("v0 unavailable", reason=reason)
    return EngineUnavailable(reason)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "unknown", response.text[:MESSAGE_LIMIT]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "unknown", response.text[:MESSAGE_LIMIT]
    return str(error.get("type", "unknown")), str(error.get("message", ""))[:MESSAGE_LIMIT]


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The `data:` payloads of an event stream, one per line (v0 sends each object on one
    line); other fields, comments and blank lines are skipped. A line longer than
    STREAM_LINE_LIMIT ends the stream as a failure rather than filling memory."""
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > STREAM_LINE_LIMIT:
            raise EngineUnavailable(f"v0 sent a stream line over {STREAM_LINE_LIMIT} bytes")
        for line in lines:
            if data := _data_of(line):
                yield data
    if data := _data_of(pending):
        yield data


def _data_of(line: bytes) -> str | None:
    text = line.rstrip(b"\r").decode("utf-8", errors="replace")
    if not text.startswith("data:"):
        return None
    return text[5:].removeprefix(" ") or None


def _stream_object(data: str) -> Chat | Content | None:
    """A chat snapshot, a piece of content, or None for what we do not use (titles, names,
    `connected`/`done` markers, objects we do not know)."""
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        logger.warning("v0 sent a stream event that is not JSON", data=data[:200])
        return None
    if not isinstance(value, dict):
        return None
    kind = value.get("object")
    if kind == "chat" and isinstance(value.get("id"), str):
        try:
            return msgspec.convert(value, Chat, strict=False)
        except msgspec.ValidationError as error:
            logger.warning("v0 sent a chat snapshot in an unexpected shape", error=str(error))
            return None
    if kind == "message.experimental_content.chunk":
        text = "".join(_appended_text(value.get("delta")))
        return Content(text) if text else None
    return None


def _appended_text(delta: Any) -> list[str]:
    """The text a content delta adds. v0's own append delta is `[[*path, text], 9, 9]`; other
    deltas are jsondiffpatch ones, whose additions (`[value]`) may hold text nodes."""
    if (
        isinstance(delta, list)
        and len(delta) == 3
        and delta[1] == 9
        and delta[2] == 9
        and isinstance(delta[0], list)
        and delta[0]
    ):
        appended = delta[0][-1]
        return [appended] if isinstance(appended, str) else []
    if isinstance(delta, list) and len(delta) == 1:
        return _strings(delta[0])
    if isinstance(delta, dict):
        return [text for key, part in delta.items() if key != "_t" for text in _appended_text(part)]
    return []


def _strings(node: Any) -> list[str]:
    """The text leaves of an added content node (`["text", {}, "Hello"]` and its parents)."""
    if isinstance(node, list):
        if len(node) == 3 and node[0] == "text" and isinstance(node[2], str):
            return [node[2]]
        return [text for child in node if isinstance(child, list) for text in _strings(child)]
    return []
