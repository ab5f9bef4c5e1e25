"""Remembering live sessions, told at once when one may have ended.

Every signed-in request must be refused (`session_ended`) as soon as its session is revoked or
its user disabled or deleted, so `shared.access` asks the database, `current_session_is_active()`.
On the direct data plane that question is most of a cached request's cost. `SessionWatch`
remembers the answer "live" for MEMORY_S, and only while it listens on a connection of its own to
`session_changes`, which the database notifies with the user's id on every change that may end a
session (auth's migration `..._auth_notify_ended_sessions.sql`): such a user is forgotten, and
its next request asks again. Before using a memory it reads whatever notifications have reached
its socket, so a change committed before the request arrived is seen. While the connection is
down it remembers nothing: every request asks the database.

Not on the `postgrest` plane (no connection of our own to listen on) nor behind a pooler in
transaction mode (`DB_TRANSACTION_POOLER`: it cannot hold a LISTEN).
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import psycopg
import structlog

from shared.config import Settings
from shared.identity import Caller

CHANNEL = "session_changes"
MEMORY_S = 10.0
"""How long a live answer is used: also the most a session that merely expires (nothing
notifies) can outlive its end, and the bound should the connection fail without a sign."""
MAX_REMEMBERED = 100_000
RECONNECT_S = (0.5, 1.0, 2.0, 5.0)

logger = structlog.stdlib.get_logger(__name__)

SessionKey = tuple[uuid.UUID, str | None]


class SessionWatch:
    """Live sessions remembered for MEMORY_S while listening; see the module's doc."""

    def __init__(self) -> None:
        self._live: dict[SessionKey, float] = {}
        self._forgotten_at: dict[uuid.UUID, float] = {}
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._listening_since = 0.0
        self._lost = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def is_live(self, caller: Caller) -> bool:
        """Whether `caller`'s session was found live less than MEMORY_S ago and nothing has said
        otherwise since; False means: ask the database."""
        if self._connection is None or caller.user_id is None:
            return False
        self._read_notifications()
        confirmed = self._live.get(_key(caller))
        return confirmed is not None and time.monotonic() - confirmed < MEMORY_S

    def remember(self, caller: Caller, asked_at: float) -> None:
        """The database said `caller`'s session was live when asked at `asked_at` (monotonic)."""
        if self._connection is None or caller.user_id is None:
            return
        self._read_notifications()
        # Asked before listening began, or before a change notified since: not to be trusted.
        if asked_at < self._listening_since or asked_at < self._forgotten_at.get(
            caller.user_id, 0.0
        ):
            return
        if len(self._live) >= MAX_REMEMBERED:
            self._live.clear()
        self._live[_key(caller)] = asked_at

    @asynccontextmanager
    async def watching(self, settings: Settings) -> AsyncIterator[None]:
        """Listen, reconnecting when the connection is lost, while the context is open; where
        the configuration gives no connection to listen on (the Data API plane, a pooler in
        transaction mode), never: every signed-in request then asks the database."""
        if (
            settings.data_plane != "postgres"
            or settings.database_url is None
            or settings.db_transaction_pooler
        ):
            yield
            return
        task = asyncio.create_task(self._listen(settings.database_url), name="session-watch")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _listen(self, database_url: str) -> None:
        failures = 0
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
                await connection.execute(f"listen {CHANNEL}")
            except (psycopg.Error, OSError) as error:
                delay = RECONNECT_S[min(failures, len(RECONNECT_S) - 1)]
                failures += 1
                logger.warning("session watch cannot listen", error=str(error), retry_s=delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self._lost.clear()
            self._listening_since = time.monotonic()
            self._connection = connection
            # From here on only the reader touches the connection's incoming data.
            asyncio.get_running_loop().add_reader(
                connection.pgconn.socket, self._read_notifications
            )
            try:
                await self._lost.wait()
            finally:
                self._drop(connection)
                with suppress(psycopg.Error):
                    await connection.close()

    def _read_notifications(self) -> None:
        """Take in what reached the socket: forget each notified user; a closed connection ends
        the memory until listening again."""
        connection = self._connection
        if connection is None:
            return
        pgconn = connection.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error as error:
            logger.warning("session watch lost its connection", error=str(error))
            self._drop(connection)
            return
        now = time.monotonic()
        while (notification := pgconn.notifies()) is not None:
            try:
                self._forget(uuid.UUID(notification.extra.decode()), now)
            except ValueError:
                continue

    def _forget(self, user_id: uuid.UUID, now: float) -> None:
        for key in [key for key in self._live if key[0] == user_id]:
            del self._live[key]
        if len(self._forgotten_at) >= MAX_REMEMBERED:
            self._forgotten_at.clear()
        self._forgotten_at[user_id] = now

    def _drop(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Remember nothing (every request asks the database) until listening again."""
        if self._connection is not connection:
            return
        self._connection = None
        self._live.clear()
        self._lost.set()
        with suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(connection.pgconn.socket)


def _key(caller: Caller) -> SessionKey:
    assert caller.user_id is not None
    session = caller.claims.get("session_id")
    return caller.user_id, session if isinstance(session, str) else None
