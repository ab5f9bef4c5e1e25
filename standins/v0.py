"""v0's Platform API v1, standing in for https://api.v0.dev/v1 (served under `/v1`).

The wire format is v0's OpenAPI at vercel/v0-sdk 13faa09 (research/services.md §1):

- Every request needs `Authorization: Bearer <api_key>`; without it 401.
- Errors are `{"error": {"message", "type"}}`, `type` one of unauthorized_error,
  forbidden_error, not_found_error, conflict_error, payload_too_large_error,
  unprocessable_entity_error, too_many_requests_error, internal_server_error.
- Request bodies are strict (`additionalProperties: false`): an unknown top-level field is 422.
- `POST /chats` and `POST /chats/{chatId}/messages` answer a ChatDetail whose `latestVersion`
  is the new version (files generated from the prompt: `app/page.tsx` shows it), in
  `responseMode` `sync` (completed, unless told to stay pending), `async` (pending; look with
  `GET /chats/{chatId}`) or `experimental_stream` (Server-Sent Events: a chat snapshot,
  `chat.title` and `chat.name` deltas, `message.experimental_content.chunk` deltas, the final
  snapshot, then `data: [DONE]`).
- `POST /chats/init` (`type` template or files) starts a chat with a completed version at once.
- `GET /chats/{chatId}`, `GET /chats/{chatId}/versions` and
  `GET /chats/{chatId}/versions/{versionId}?includeDefaultFiles=` read them back; with default
  files a version also holds the project files v0 adds (package.json, tsconfig.json, …).

Controls for tests: `pending_polls` (how many looks find a new version still pending),
`fail_next` (the next call answers an error), `fail_next_version` (the next version ends
failed), `delay_next` (the next call answers late), `latency_s` (every call answers that late,
as a benchmark's fixed engine time), and `calls` (calls per endpoint, e.g.
`calls["POST /chats"]`).
"""

import asyncio
import json
import re
import secrets
import string
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

ERROR_TYPES = {
    400: "bad_request_error",
    401: "unauthorized_error",
    403: "forbidden_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "payload_too_large_error",
    422: "unprocessable_entity_error",
    429: "too_many_requests_error",
    500: "internal_server_error",
}
MODEL_IDS = ("v0-auto", "v0-mini", "v0-pro", "v0-max", "v0-max-fast")
RESPONSE_MODES = ("sync", "async", "experimental_stream")
PRIVACIES = ("public", "private", "team-edit", "team", "unlisted")

CREATE_FIELDS = frozenset(
    {
        "message",
        "attachments",
        "system",
        "projectId",
        "chatPrivacy",
        "modelConfiguration",
        "responseMode",
        "designSystemId",
        "mcpServerIds",
        "attachedSkillIds",
        "skills",
        "metadata",
    }
)
MESSAGE_FIELDS = frozenset(
    {
        "message",
        "attachments",
        "system",
        "modelConfiguration",
        "responseMode",
        "mcpServerIds",
        "attachedSkillIds",
        "skills",
        "action",
    }
)
INIT_FIELDS = frozenset({"name", "chatPrivacy", "projectId", "metadata", "type"})
INIT_TYPE_FIELDS = {"template": frozenset({"templateId"}), "files": frozenset({"files"})}
MODEL_CONFIGURATION_FIELDS = frozenset({"modelId", "imageGenerations", "thinking"})
MESSAGE_LIMIT = 100_000
"""The longest message the stand-in takes (413 beyond it, as v0 refuses a huge prompt)."""
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

DEFAULT_FILES = {
    "package.json": json.dumps(
        {
            "name": "my-v0-project",
            "private": True,
            "scripts": {"dev": "next dev", "build": "next build", "start": "next start"},
            "dependencies": {"next": "15.5.0", "react": "19.1.0", "react-dom": "19.1.0"},
        },
        indent=2,
    )
    + "\n",
    "tsconfig.json": json.dumps(
        {"compilerOptions": {"strict": True, "jsx": "preserve", "paths": {"@/*": ["./*"]}}},
        indent=2,
    )
    + "\n",
    "next.config.mjs": "/** @type {import('next').NextConfig} */\nexport default {}\n",
    "app/globals.css": "@import 'tailwindcss';\n",
}
"""What v0 adds to every project and returns only with `includeDefaultFiles=true`."""


class _Refusal(Exception):
    """A request the stand-in answers with v0's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Version:
    id: str
    created_at: str
    files: list[dict[str, Any]]
    status: str = "pending"
    demo_url: str | None = None
    screenshot_url: str | None = None
    updated_at: str | None = None
    looks_left: int = 0
    ends_failed: bool = False

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "id": self.id,
            "object": "version",
            "status": self.status,
            "createdAt": self.created_at,
        }
        if self.updated_at:
            summary["updatedAt"] = self.updated_at
        if self.demo_url:
            summary["demoUrl"] = self.demo_url
        if self.screenshot_url:
            summary["screenshotUrl"] = self.screenshot_url
        return summary

    def detail(self, *, default_files: bool = False) -> dict[str, Any]:
        files = [
            {"object": "file", "name": name, "content": content, "locked": False}
            for name, content in (DEFAULT_FILES.items() if default_files else ())
            if all(file["name"] != name for file in self.files)
        ]
        return {**self.summary(), "files": [*self.files, *files]}

    def settle(self) -> None:
        """End pending: completed with a preview, or failed when told to."""
        self.updated_at = _now()
        if self.ends_failed:
            self.status = "failed"
            return
        self.status = "completed"
        host = f"demo-{_random_id(20, lower=True)}.vusercontent.net"
        self.demo_url = f"https://{host}"
        self.screenshot_url = f"https://{host}/screenshot.png"


@dataclass
class _Chat:
    id: str
    name: str
    created_at: str
    privacy: str
    metadata: dict[str, str]
    model_id: str
    project_id: str | None
    prompts: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    versions: list[_Version] = field(default_factory=list)
    updated_at: str | None = None


@dataclass
class V0StandIn:
    """v0 in memory, for one API key. Serve it with `standins.http_server.serve_http`, then set
    `base_url` to the URL served (the API answers under `<base_url>/v1`)."""

    api_key: str = "v0_standin_key"
    base_url: str = ""
    """Set once served; the API's own URLs (`apiUrl`) are built from it."""
    author_id: str = "standin-user"
    pending_polls: int = 0
    """How many looks (`GET /chats/{id}`) find a new version still pending; a sync answer is
    pending too when this is above 0, and an async one always is."""
    stream_interval_s: float = 0.0
    """The pause between two events of a stream (dev sets one, so text arrives visibly)."""
    latency_s: float = 0.0
    """How long every call waits before it answers (besides any `delay_next`): a fixed engine
    time, so a benchmark can tell the service's own time from v0's."""
    calls: Counter[str] = field(default_factory=Counter, init=False)
    """Calls per endpoint, by its template: "POST /chats", "GET /chats/{chatId}", …"""
    received: list[httpx.Request] = field(default_factory=list, init=False)
    chats: dict[str, _Chat] = field(default_factory=dict, init=False)
    _failures: list[tuple[str | None, int, str]] = field(default_factory=list, init=False)
    _delays: list[tuple[str | None, float]] = field(default_factory=list, init=False)
    _fail_versions: int = field(default=0, init=False)

    # Controls ------------------------------------------------------------------------------------

    def configuration(self) -> dict[str, str]:
        """The settings that point the app at this stand-in."""
        return {"v0_api_key": self.api_key, "v0_api_url": f"{self.base_url}/v1"}

    def fail_next(self, status: int, message: str = "", *, endpoint: str | None = None) -> None:
        """The next call (to `endpoint`, e.g. "POST /chats", if given) answers `status` with v0's
        error body and does nothing."""
        self._failures.append((endpoint, status, message or f"Stand-in failure {status}"))

    def fail_next_version(self) -> None:
        """The next version made ends `failed` instead of `completed`."""
        self._fail_versions += 1

    def delay_next(self, seconds: float, *, endpoint: str | None = None) -> None:
        """The next call (to `endpoint`, if given) waits `seconds` before it answers."""
        self._delays.append((endpoint, seconds))

    def total_calls(self) -> int:
        return sum(self.calls.values())

    # The API -------------------------------------------------------------------------------------

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        parts = request.url.path.strip("/").split("/")
        if parts[:1] == ["v1"]:
            parts = parts[1:]
        endpoint = _endpoint(request.method, parts)
        self.calls[endpoint] += 1
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if delay := self._take(self._delays, endpoint):
            await asyncio.sleep(delay[1])
        try:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                raise _Refusal(401, "Invalid API key. Provide it as `Authorization: Bearer`.")
            if failure := self._take(self._failures, endpoint):
                raise _Refusal(failure[1], failure[2])
            return await self._route(request, parts)
        except _Refusal as refusal:
            return _error(refusal.status, refusal.message)

    async def _route(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        match (request.method, parts):
            case ("POST", ["chats"]):
                return self._create(_body(request, CREATE_FIELDS))
            case ("POST", ["chats", "init"]):
                return self._init(_body(request, None))
            case ("GET", ["chats", chat_id]):
                chat = self._chat(chat_id)
                self._look(chat)
                return httpx.Response(200, json=self._detail(chat))
            case ("POST", ["chats", chat_id, "messages"]):
                return self._message(self._chat(chat_id), _body(request, MESSAGE_FIELDS))
            case ("GET", ["chats", chat_id, "versions"]):
                chat = self._chat(chat_id)
                data = [version.summary() for version in reversed(chat.versions)]
                return httpx.Response(
                    200,
                    json={
                        "object": "list",
                        "data": data,
                        "pagination": {"hasMore": False},
                        "meta": {"totalCount": len(data)},
                    },
                )
            case ("GET", ["chats", chat_id, "versions", version_id]):
                version = self._version(self._chat(chat_id), version_id)
                flag = request.url.params.get("includeDefaultFiles", "false")
                if flag not in ("true", "false"):
                    raise _Refusal(422, "includeDefaultFiles: Expected 'true' | 'false'")
                return httpx.Response(200, json=version.detail(default_files=flag == "true"))
        raise _Refusal(404, f"Not found: {request.method} {request.url.path}")

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        prompt = _message(body)
        model_id = _model_id(body)
        mode = _choice(body, "responseMode", RESPONSE_MODES, "sync")
        privacy = _choice(body, "chatPrivacy", PRIVACIES, "private")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(value, str) for value in metadata.values()
        ):
            raise _Refusal(422, "metadata: Expected record<string, string>")
        project_id = body.get("projectId")
        chat = _Chat(
            id=_random_id(11),
            name=_title(prompt),
            created_at=_now(),
            privacy=privacy,
            metadata=metadata,
            model_id=model_id,
            project_id=project_id if isinstance(project_id, str) else None,
        )
        self.chats[chat.id] = chat
        return self._generate(chat, prompt, mode, kind="message")

    def _message(self, chat: _Chat, body: dict[str, Any]) -> httpx.Response:
        prompt = _message(body)
        chat.model_id = _model_id(body, chat.model_id)
        mode = _choice(body, "responseMode", RESPONSE_MODES, "sync")
        return self._generate(chat, prompt, mode, kind="refinement")

    def _init(self, body: dict[str, Any]) -> httpx.Response:
        kind = body.get("type")
        if kind not in INIT_TYPE_FIELDS:
            raise _Refusal(
                422, f"type: Expected {' | '.join(map(repr, INIT_TYPE_FIELDS))}, received {kind!r}"
            )
        _refuse_unknown(body, INIT_FIELDS | INIT_TYPE_FIELDS[kind])
        privacy = _choice(body, "chatPrivacy", PRIVACIES, "private")
        if kind == "template":
            template_id = body.get("templateId")
            if not isinstance(template_id, str) or not TEMPLATE_ID.match(template_id):
                raise _Refusal(422, "templateId: Required")
            files = _template_files(template_id)
            name = body.get("name") or f"Template {template_id}"
        else:
            files = _init_files(body.get("files"))
            name = body.get("name") or "Imported files"
        project_id = body.get("projectId")
        chat = _Chat(
            id=_random_id(11),
            name=str(name),
            created_at=_now(),
            privacy=privacy,
            metadata=body.get("metadata") or {},
            model_id="v0-pro",
            project_id=project_id if isinstance(project_id, str) else None,
        )
        self.chats[chat.id] = chat
        version = _Version(id=_random_id(12), created_at=_now(), files=files)
        version.settle()
        chat.versions.append(version)
        return httpx.Response(200, json=self._detail(chat))

    # Generating ----------------------------------------------------------------------------------

    def _generate(self, chat: _Chat, prompt: str, mode: str, *, kind: str) -> httpx.Response:
        chat.prompts.append(prompt)
        chat.updated_at = _now()
        version = _Version(
            id=_random_id(12),
            created_at=_now(),
            files=_site_files(chat.prompts),
            looks_left=self.pending_polls,
        )
        if self._fail_versions > 0:
            self._fail_versions -= 1
            version.ends_failed = True
        chat.versions.append(version)
        answer = _answer_text(chat.prompts)
        chat.messages += [
            self._chat_message(chat, prompt, role="user", kind=kind),
            self._chat_message(chat, answer, role="assistant", kind=kind),
        ]
        if mode == "sync" and self.pending_polls == 0:
            version.settle()
        if mode == "experimental_stream":
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream", "cache-control": "no-cache"},
                content=self._events(chat, version, answer),
            )
        return httpx.Response(200, json=self._detail(chat))

    async def _events(self, chat: _Chat, version: _Version, answer: str) -> AsyncIterator[bytes]:
        """The stream of one generation; the version settles before the final snapshot unless
        it is to stay pending for a number of looks."""
        yield _event(self._detail(chat))
        for kind in ("chat.title", "chat.name"):
            await asyncio.sleep(self.stream_interval_s)
            yield _event({"object": kind, "delta": chat.name})
        words = answer.split(" ")
        # The first chunk adds a paragraph (jsondiffpatch addition); the rest append to its text
        # with v0's own delta `[[*path, text], 9, 9]`.
        first = {"0": [["p", {}, ["text", {}, words[0]]]], "_t": "a"}
        await asyncio.sleep(self.stream_interval_s)
        yield _event({"object": "message.experimental_content.chunk", "delta": first})
        for word in words[1:]:
            await asyncio.sleep(self.stream_interval_s)
            yield _event(
                {
                    "object": "message.experimental_content.chunk",
                    "delta": [[0, 2, 2, f" {word}"], 9, 9],
                }
            )
        if self.pending_polls == 0 and version.status == "pending":
            version.settle()
        yield _event(self._detail(chat))
        yield b"data: [DONE]\n\n"

    def _look(self, chat: _Chat) -> None:
        """A look at the chat: a pending latest version counts it and settles after enough."""
        version = chat.versions[-1] if chat.versions else None
        if version is None or version.status != "pending":
            return
        if version.looks_left > 0:
            version.looks_left -= 1
            return
        version.settle()

    # Shapes --------------------------------------------------------------------------------------

    def _chat(self, chat_id: str) -> _Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise _Refusal(404, f"Chat not found: {chat_id}")
        return chat

    def _version(self, chat: _Chat, version_id: str) -> _Version:
        for version in chat.versions:
            if version.id == version_id:
                return version
        raise _Refusal(404, f"Version not found: {version_id}")

    def _chat_message(self, chat: _Chat, content: str, *, role: str, kind: str) -> dict[str, Any]:
        message_id = _random_id(12)
        message: dict[str, Any] = {
            "id": message_id,
            "object": "message",
            "content": content,
            "createdAt": _now(),
            "apiUrl": f"{self.base_url}/v1/chats/{chat.id}/messages/{message_id}",
            "authorId": self.author_id if role == "user" else None,
            "type": kind,
            "role": role,
        }
        if role == "assistant":
            message["finishReason"] = "stop"
            message["experimental_content"] = [[0, [["p", {}, ["text", {}, content]]]]]
        return message

    def _detail(self, chat: _Chat) -> dict[str, Any]:
        """v0's ChatDetail: every required field, the latest version with its files."""
        web_url = f"https://v0.app/chat/{_slug(chat.name)}-{chat.id}"
        assistant = [message for message in chat.messages if message["role"] == "assistant"]
        detail: dict[str, Any] = {
            "id": chat.id,
            "object": "chat",
            "shareable": chat.privacy in ("public", "unlisted"),
            "privacy": chat.privacy,
            "name": chat.name,
            "title": chat.name,
            "createdAt": chat.created_at,
            "updatedAt": chat.updated_at or chat.created_at,
            "favorite": False,
            "authorId": self.author_id,
            "webUrl": web_url,
            "apiUrl": f"{self.base_url}/v1/chats/{chat.id}",
            "url": web_url,
            "messages": chat.messages,
            "text": assistant[-1]["content"] if assistant else "",
            "permissions": {"write": True},
            "metadata": chat.metadata,
            "modelConfiguration": {
                "modelId": chat.model_id,
                "imageGenerations": False,
                "thinking": False,
            },
        }
        if chat.project_id:
            detail["projectId"] = chat.project_id
        if chat.versions:
            latest = chat.versions[-1]
            detail["latestVersion"] = latest.detail()
            if latest.demo_url:
                detail["demo"] = latest.demo_url
        return detail

    @staticmethod
    def _take(
        queue: list[Any],
        endpoint: str,
    ) -> Any:
        for index, entry in enumerate(queue):
            if entry[0] is None or entry[0] == endpoint:
                return queue.pop(index)
        return None


# Requests ----------------------------------------------------------------------------------------


def _endpoint(method: str, parts: list[str]) -> str:
    """The endpoint's template, e.g. "GET /chats/{chatId}/versions/{versionId}"."""
    if parts[:1] != ["chats"] or parts == ["chats", "init"]:
        return f"{method} /{'/'.join(parts)}"
    template = ["chats", "{chatId}", *parts[2:3]][: len(parts)]
    if len(parts) > 3:
        template += ["{versionId}" if parts[2] == "versions" else "{id}", *parts[4:]]
    return f"{method} /{'/'.join(template)}"


def _body(request: httpx.Request, allowed: frozenset[str] | None) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        raise _Refusal(422, "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise _Refusal(422, "Expected object, received " + type(body).__name__)
    if allowed is not None:
        _refuse_unknown(body, allowed)
    return body


def _refuse_unknown(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        raise _Refusal(422, f"Unrecognized key(s) in object: {names}")


def _message(body: dict[str, Any]) -> str:
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise _Refusal(422, "message: Required")
    if len(message) > MESSAGE_LIMIT:
        raise _Refusal(413, f"message: too long (at most {MESSAGE_LIMIT} characters)")
    return message


def _model_id(body: dict[str, Any], default: str = "v0-pro") -> str:
    configuration = body.get("modelConfiguration")
    if configuration is None:
        return default
    if not isinstance(configuration, dict):
        raise _Refusal(422, "modelConfiguration: Expected object")
    _refuse_unknown(configuration, MODEL_CONFIGURATION_FIELDS)
    return _choice(configuration, "modelId", MODEL_IDS, default)


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        expected = " | ".join(f"'{option}'" for option in allowed)
        raise _Refusal(422, f"{name}: Invalid enum value. Expected {expected}, received {value!r}")
    return str(value)


def _init_files(files: Any) -> list[dict[str, Any]]:
    if not isinstance(files, list) or not files:
        raise _Refusal(422, "files: Required")
    made = []
    for file in files:
        if not isinstance(file, dict) or not isinstance(file.get("name"), str):
            raise _Refusal(422, "files: Expected [{name, content|url, locked?}]")
        content = file.get("content")
        if not isinstance(content, str):
            content = f"// fetched from {file.get('url')}\n"
        made.append(
            {
                "object": "file",
                "name": file["name"],
                "content": content,
                "locked": bool(file.get("locked", False)),
            }
        )
    return made


# Content -----------------------------------------------------------------------------------------


def _site_files(prompts: list[str]) -> list[dict[str, Any]]:
    """A small Next.js site that shows what it was asked for (every prompt, in order)."""
    title = _title(prompts[0])
    requests = "\n".join(f"          <li>{{{_js(prompt)}}}</li>" for prompt in prompts[1:])
    page = (
        'import { SiteHeader } from "@/components/site-header"\n\n'
        "export default function Page() {\n"
        "  return (\n"
        "    <main>\n"
        f"      <SiteHeader title={{{_js(title)}}} />\n"
        f"      <p>{{{_js(prompts[0])}}}</p>\n"
        + (f"      <ul>\n{requests}\n      </ul>\n" if requests else "")
        + "    </main>\n"
        "  )\n"
        "}\n"
    )
    layout = (
        'import "./globals.css"\n\n'
        f"export const metadata = {{ title: {_js(title)} }}\n\n"
        "export default function RootLayout({ children }: { children: React.ReactNode }) {\n"
        '  return (\n    <html lang="sv">\n      <body>{children}</body>\n    </html>\n  )\n}\n'
    )
    header = (
        "export function SiteHeader({ title }: { title: string }) {\n"
        "  return <header><h1>{title}</h1></header>\n"
        "}\n"
    )
    return [
        {"object": "file", "name": "app/page.tsx", "content": page, "locked": False},
        {"object": "file", "name": "app/layout.tsx", "content": layout, "locked": False},
        {
            "object": "file",
            "name": "components/site-header.tsx",
            "content": header,
            "locked": False,
        },
    ]


def _template_files(template_id: str) -> list[dict[str, Any]]:
    page = (
        "export default function Page() {\n"
        f"  return <main>Template {_js(template_id)}</main>\n"
        "}\n"
    )
    return [{"object": "file", "name": "app/page.tsx", "content": page, "locked": False}]


def _js(text: str) -> str:
    """`text` as a JavaScript string literal, kept readable (Swedish letters as they are)."""
    return json.dumps(text, ensure_ascii=False)


def _answer_text(prompts: list[str]) -> str:
    if len(prompts) == 1:
        return f"I built a site for: {prompts[0]}"
    return f"I changed the site: {prompts[-1]}"


def _title(prompt: str) -> str:
    words = prompt.split()
    title = " ".join(words[:6])
    return title[:60] or "Untitled"


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40] or "chat"


def _random_id(length: int, *, lower: bool = False) -> str:
    alphabet = string.ascii_lowercase + string.digits
    if not lower:
        alphabet += string.ascii_uppercase
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(value: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(value)}\n\n".encode()


def _error(status: int, message: str) -> httpx.Response:
    kind = ERROR_TYPES.get(status, "internal_server_error" if status >= 500 else "error")
    return httpx.Response(status, json={"error": {"message": message, "type": kind}})
