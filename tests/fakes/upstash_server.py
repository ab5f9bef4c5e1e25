"""Upstash's REST protocol served over a real Redis, so the real upstash-redis client can be tested.

It speaks what Upstash documents and upstash-redis sends: `POST /` with one command as a JSON
array, `POST /pipeline` and `POST /multi-exec` with an array of them, `Authorization: Bearer`,
and `Upstash-Encoding: base64`. Redis answers every command; nothing is emulated. Path-form
commands, `?_token=`, read-only tokens and the Upstash-only `#!lua flags=` shebang are not served.
"""

import contextlib
import json
import socket
import threading
import time
from base64 import b64encode
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import redis.asyncio as redis_asyncio
import redis.exceptions
import uvicorn
from redis.asyncio.connection import AbstractConnection

Command = list[str | int | float]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
STARTUP_TIMEOUT_S = 5.0


class UpstashProtocol:
    """The ASGI app: Upstash's REST endpoints, each command run on a real Redis connection."""

    def __init__(self, redis_url: str, token: str) -> None:
        self.redis_url = redis_url
        self.token = token
        self.commands: list[Command] = []
        """Every command received, in order, so tests can tell which transport a call used."""
        self._pool: redis_asyncio.ConnectionPool | None = None

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert scope["type"] == "http"
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        status, reply = await self._answer(scope["method"], scope["path"], headers, body)
        payload = json.dumps(reply).encode()
        # A length, not chunked encoding: chunked replies leave a tail write that Nagle's
        # algorithm holds back for the client's delayed ACK (about 40 ms a request).
        length = str(len(payload)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", length)],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Raw connections: replies exactly as Redis sends them, no redis-py callbacks.
                self._pool = redis_asyncio.ConnectionPool.from_url(self.redis_url)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._pool is not None:
                    await self._pool.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Unauthorized"}
        if path not in ("/", "/pipeline", "/multi-exec"):
            return 404, {"error": "Not found"}
        if method != "POST":
            return 405, {"error": "Method not allowed"}
        encode = headers.get("upstash-encoding") == "base64"
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        commands = [request] if path == "/" else request
        if not (isinstance(commands, list) and commands and all(map(_is_command, commands))):
            return 400, {"error": "ERR failed to parse command"}
        assert self._pool is not None
        connection: AbstractConnection | None = None
        try:
            connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            self.commands.extend(commands)
            if path == "/":
                return 200, {"result": _encoded(await _run(connection, request), encode)}
            if path == "/pipeline":
                return 200, [await _outcome(connection, command, encode) for command in commands]
            return 200, await _transaction(connection, commands, encode)
        except redis.exceptions.ResponseError as error:
            return 400, {"error": _message(error)}
        except redis.exceptions.ConnectionError as error:
            return 500, {"error": str(error)}
        finally:
            if connection is not None:
                await self._pool.release(connection)


def _is_command(command: Any) -> bool:
    """A non-empty JSON array of strings and numbers, as Redis takes them."""
    return (
        isinstance(command, list)
        and bool(command)
        and all(type(argument) in (str, int, float) for argument in command)
    )


async def _run(connection: AbstractConnection, command: Command) -> Any:
    await connection.send_command(*command)
    return await connection.read_response()


async def _outcome(connection: AbstractConnection, command: Command, encode: bool) -> Any:
    try:
        return {"result": _encoded(await _run(connection, command), encode)}
    except redis.exceptions.ResponseError as error:
        return {"error": _message(error)}


async def _transaction(
    connection: AbstractConnection, commands: Sequence[Command], encode: bool
) -> list[Any]:
    """MULTI … EXEC on one connection: atomic; a command Redis refuses to queue discards all."""
    await _run(connection, ["MULTI"])
    for command in commands:
        # A refused command is remembered by Redis, which then answers EXEC with EXECABORT.
        with contextlib.suppress(redis.exceptions.ResponseError):
            await _run(connection, command)
    replies = await _run(connection, ["EXEC"])
    return [
        {"error": _message(reply)}
        if isinstance(reply, redis.exceptions.ResponseError)
        else {"result": _encoded(reply, encode)}
        for reply in replies
    ]


def _message(error: redis.exceptions.RedisError) -> str:
    """The error as Redis said it; redis-py strips known codes (NOSCRIPT, EXECABORT) off."""
    return f"{error.status_code} {error}" if error.status_code else str(error)


def _encoded(reply: Any, base64: bool) -> Any:
    """A reply as Upstash sends it: strings base64 when asked (all but "OK"), nested alike."""
    if isinstance(reply, bytes):
        return b64encode(reply).decode() if base64 and reply != b"OK" else reply.decode()
    if isinstance(reply, list):
        return [_encoded(item, base64) for item in reply]
    return reply


class UpstashServer:
    """`UpstashProtocol` served by uvicorn on a free local port in a background thread."""

    def __init__(self, redis_url: str, token: str) -> None:
        self.app = UpstashProtocol(redis_url, token)
        self._socket = socket.socket()
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def commands(self) -> list[Command]:
        return self.app.commands

    def __enter__(self) -> "UpstashServer":
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Upstash test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(STARTUP_TIMEOUT_S)
        self._socket.close()
