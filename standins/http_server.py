"""A third-party HTTP API's stand-in, served over real HTTP on 127.0.0.1 for apps that build
their own httpx client from Settings URLs (the tests, and `sajtmaskin dev` without API keys).

A stand-in is a handler from `httpx.Request` to `httpx.Response` (the shape `httpx.MockTransport`
takes, as in `tests/fakes/jwks.py`); `serve_http` runs it under uvicorn on a free port in a
background thread, translating each ASGI request into an `httpx.Request` and back. A response
made from bytes is sent whole; one made from an async iterator (Server-Sent Events) is sent
chunk by chunk as the handler produces it, so a client sees events arrive one at a time.
"""

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]
Message = dict[str, Any]
STARTUP_TIMEOUT_S = 5.0


class _HandlerApp:
    """The ASGI app around one handler."""

    def __init__(self, handler: Handler, base_url: str) -> None:
        self.handler = handler
        self.base_url = base_url

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        request = httpx.Request(
            scope["method"],
            f"{self.base_url}{scope['path']}" + (f"?{query}" if query else ""),
            headers=[(name, value) for name, value in scope["headers"]],
            content=body,
        )
        response = await self.handler(request)
        headers = [
            (name, value)
            for name, value in response.headers.raw
            if name.lower() not in (b"content-length", b"transfer-encoding")
        ]
        if not isinstance(response.stream, httpx.ByteStream):
            # Made from an async iterator (Server-Sent Events): sent as chunked transfer encoding.
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        content = await response.aread()
        headers.append((b"content-length", str(len(content)).encode()))
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})


@contextmanager
def serve_http(handler: Handler) -> Iterator[str]:
    """Serve `handler` on a free local port for the duration; yields its base URL."""
    # Created as TCP by name: asyncio sets TCP_NODELAY only on sockets whose protocol says so, and
    # without it each answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    # No log configuration of its own: uvicorn's would reconfigure the process's `uvicorn.*`
    # loggers, which `sajtmaskin dev` serves the gateway with too.
    # No access lines either: a stand-in's requests are the caller's business, not the log's.
    config = uvicorn.Config(
        _HandlerApp(handler, url), log_config=None, access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the stand-in HTTP server did not start")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT_S)
        listener.close()
