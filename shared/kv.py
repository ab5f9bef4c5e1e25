"""Redis, reached one of two ways: TCP (redis-py) or Upstash's REST API (upstash-redis).

Both speak the few operations the limiter and the caches need, with string values, and both put
every call under a deadline: a slow or dead store raises `StoreUnavailable` quickly instead of
stalling a request (upstash-redis has no timeout and retries after 3 s by default; redis-py's
socket timeout alone does not bound a call that keeps reconnecting). The deadline is the store's,
not our event loop's: see `Deadline`.
"""

import asyncio
import hashlib
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import redis.asyncio as redis_asyncio
import redis.exceptions
from upstash_redis.asyncio import Redis as UpstashRedis
from upstash_redis.errors import UpstashError

from shared.config import Settings

Argument = str | int | float
CONNECT_TIMEOUT_S = 0.5


class StoreUnavailable(Exception):
    """The store did not answer in time, or could not be reached."""


class _NoScript(Exception):
    """The server does not have the script yet."""


class Script:
    """A Lua script run by its SHA1 (EVALSHA), loaded with EVAL only when the server lacks it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class Deadline:
    """`asyncio.timeout(seconds)`, except that it expires only once the event loop has delivered
    what reached the process by then. Under load our own loop runs behind: a reply that arrived in
    time can wait in the socket or the ready queue while the timer fires first (asyncio and uvloop
    both run timers before such a reply's task), and `asyncio.timeout` would then call a healthy
    store dead (at 32 concurrent requests ~1% of limiter decisions failed open so). At the
    deadline this lets the loop poll once more and run what that made ready, then expires: a store
    that has not answered still fails within the deadline plus two turns of the loop."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._scope = asyncio.timeout(None)
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> None:
        await self._scope.__aenter__()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.seconds, self._poll_once_more, loop)

    def _poll_once_more(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_later(0, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        # Now: the timeout fires behind the replies this turn polled (call_soon keeps order).
        self._timer = None
        self._scope.reschedule(loop.time())

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self._scope.__aexit__(kind, error, traceback)


class KeyValueStore(Protocol):
    name: str

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_s: int) -> None: ...

    async def delete(self, keys: Sequence[str]) -> None: ...

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Any:
        """The script's result; one round trip unless the server has not seen the script."""
        ...

    async def ping(self) -> None: ...


class _CommandStore:
    """The store operations, in Redis commands; a transport supplies `_call` (one command,
    under its deadline, raising StoreUnavailable or _NoScript)."""

    async def _call(self, *command: Argument) -> Any:
        raise NotImplementedError

    async def get(self, key: str) -> str | None:
        value: str | None = await self._call("GET", key)
        return value

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        await self._call("SET", key, value, "EX", ttl_s)

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self._call("DEL", *keys)

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Any:
        try:
            return await self._call("EVALSHA", script.sha, len(keys), *keys, *args)
        except _NoScript:
            return await self._call("EVAL", script.source, len(keys), *keys, *args)

    async def ping(self) -> None:
        await self._call("PING")


class TcpStore(_CommandStore):
    """Redis over TCP with redis-py's asyncio client (one connection pool per process)."""

    name = "redis"

    def __init__(self, client: redis_asyncio.Redis, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def _call(self, *command: Argument) -> Any:
        try:
            async with Deadline(self.timeout_s):
                # redis-py's asyncio client is untyped here.
                reply = await self.client.execute_command(*command)  # type: ignore[no-untyped-call]
        except redis.exceptions.NoScriptError as error:
            raise _NoScript from error
        except (TimeoutError, redis.exceptions.RedisError) as error:
            raise StoreUnavailable(f"redis: {type(error).__name__}: {error}") from error
        return _text(reply)


def _text(reply: Any) -> Any:
    """redis-py's bytes as str, at any depth, as upstash-redis returns them."""
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, list):
        return [_text(item) for item in reply]
    return reply


class UpstashStore(_CommandStore):
    """Redis over Upstash's REST API with the upstash-redis async client."""

    name = "upstash"

    def __init__(self, client: UpstashRedis, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def _call(self, *command: Argument) -> Any:
        try:
            async with Deadline(self.timeout_s):
                return await self.client.execute(list(command))
        except UpstashError as error:
            if str(error).startswith("NOSCRIPT"):
                raise _NoScript from error
            raise StoreUnavailable(f"upstash: {error}") from error
        except Exception as error:  # httpx's transport errors, timeouts, unreadable replies
            raise StoreUnavailable(f"upstash: {type(error).__name__}") from error


def tcp_client(settings: Settings) -> redis_asyncio.Redis | None:
    """The process's redis-py client, or None without REDIS_URL."""
    if not settings.redis_url:
        return None
    return redis_asyncio.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S,
        retry_on_timeout=False,
    )


def upstash_client(settings: Settings) -> UpstashRedis | None:
    """The process's upstash-redis client, or None without UPSTASH_REDIS_REST_URL and _TOKEN."""
    if not (settings.upstash_redis_rest_url and settings.upstash_redis_rest_token):
        return None
    # No retries: a failed call must fail now, under our deadline, not after a 3 s pause.
    return UpstashRedis(
        settings.upstash_redis_rest_url,
        settings.upstash_redis_rest_token,
        rest_retries=0,
        allow_telemetry=False,
    )


@dataclass(frozen=True)
class Stores:
    """The stores each use reaches, by the transports configured; None when there is none."""

    cache: KeyValueStore | None  # caches: TCP, else Upstash
    sessions: KeyValueStore | None  # `user:session:*`: Upstash as in the original, else TCP
    limiter: KeyValueStore | None  # rate limits: Upstash, else TCP, under the limiter's deadline


async def open_stores(settings: Settings, resources: AsyncExitStack) -> Stores:
    """Connect what is configured; `resources` closes the clients on shutdown."""
    tcp = tcp_client(settings)
    upstash = upstash_client(settings)
    if tcp is not None:
        resources.push_async_callback(tcp.aclose)
    if upstash is not None:
        resources.push_async_callback(upstash.close)
    cache_s = settings.cache_timeout_ms / 1000
    limiter_s = settings.rate_limit_timeout_ms / 1000

    def store(
        client: redis_asyncio.Redis | UpstashRedis | None, timeout_s: float
    ) -> KeyValueStore | None:
        if isinstance(client, redis_asyncio.Redis):
            return TcpStore(client, timeout_s)
        if isinstance(client, UpstashRedis):
            return UpstashStore(client, timeout_s)
        return None

    return Stores(
        cache=store(tcp or upstash, cache_s),
        sessions=store(upstash or tcp, cache_s),
        limiter=store(upstash or tcp, limiter_s),
    )
