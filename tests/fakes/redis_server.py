"""Stores that fail: a Redis of the test's own that it can kill, and a server that never answers."""

import asyncio
import subprocess
import tempfile
import time
from types import TracebackType

import redis
import redis.exceptions

from shared.local_stack import LocalServer, free_port

STARTUP_TIMEOUT_S = 5.0


class RedisServer(LocalServer):
    """A real `redis-server` on a free port, not persisting, that `stop()` kills like a crash."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = tempfile.TemporaryDirectory(prefix="sajtmaskin-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", self._directory.name),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with redis.Redis.from_url(self.url) as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.ConnectionError:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (SIGKILL): connections drop, new ones are refused."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, traceback)
        self._directory.cleanup()


class SilentServer:
    """Accepts TCP connections and never answers: a hung store, as opposed to a dead one."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._connections: list[asyncio.StreamWriter] = []
        self.port = 0

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.append(writer)
        await reader.read()  # whatever the client sends, until it gives up and closes

    async def __aenter__(self) -> "SilentServer":
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for writer in self._connections:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
