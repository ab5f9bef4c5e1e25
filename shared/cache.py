"""Typed caches of Redis key families: read-through, and never the source of truth.

A read that cannot reach Redis in time (`StoreUnavailable`, under the cache deadline) is a miss
and the database answers; a write or an invalidation that cannot is logged and dropped. Values
are msgspec JSON of the type the caller names; every key carries the deployment's prefix.

    AUDIT = CacheFamily("audit:", DAY_S)   # in the owning service, unless another needs it
    audit = await cache.get_or_load(AUDIT.key(audit_id), Audit, load_audit)
    await cache.invalidate(AUDIT.key(audit_id), AUDIT_LIST.key(user_id))
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar
from uuid import UUID

import msgspec
import structlog

from shared.kv import KeyValueStore, Stores, StoreUnavailable

T = TypeVar("T")

HOUR_S = 60 * 60
DAY_S = 24 * HOUR_S

logger = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class CacheFamily:
    """The keys `{prefix}{id}`, each kept `ttl_s` seconds in the `store` of `Stores`."""

    prefix: str
    ttl_s: int
    store: Literal["cache", "sessions"] = "cache"

    def key(self, id: str | UUID) -> "CacheKey":
        return CacheKey(self, f"{self.prefix}{id}")


@dataclass(frozen=True)
class CacheKey:
    family: CacheFamily
    name: str
    """The key in Redis, before the deployment's prefix."""


# The families more than one service uses live here; a service's own families live with it
# (e.g. services/projects/cache.py).
USER_SESSION = CacheFamily("user:session:", 7 * DAY_S, store="sessions")
"""The public user JSON: written by auth on sign-in and profile changes, refreshed or dropped
by every service that changes the user (billing's balance too)."""

PROJECT_META = CacheFamily("project:meta:", HOUR_S)
"""An app project's row, by project id: projects' sites; dropped by auth when a guest's sites
move to a user."""

PROJECT_FILES = CacheFamily("project:files:", HOUR_S)
"""An app project's file list, by project id (as PROJECT_META)."""

PROJECT_LIST = CacheFamily("cache:projects:list:", HOUR_S)
"""An owner's newest sites, by user id or guest session (as PROJECT_META)."""


class Cache:
    """The process's caches over `stores`, every key behind `key_prefix` (e.g. "prod:")."""

    def __init__(self, stores: Stores, key_prefix: str = "") -> None:
        self.stores = stores
        self.key_prefix = key_prefix

    async def get(self, key: CacheKey, value_type: type[T]) -> T | None:
        """The cached value; None on a miss, an unreadable entry or an unreachable store."""
        try:
            return await self._cached(key, value_type)
        except StoreUnavailable as error:
            self._log_outage("get", [key], error)
            return None

    async def get_or_load(
        self, key: CacheKey, value_type: type[T], load: Callable[[], Awaitable[T]]
    ) -> T:
        """The cached value, else `load()`'s, which is then cached; a `load` that raises caches
        nothing. With the store unreachable, `load()` answers and nothing is written back."""
        try:
            cached = await self._cached(key, value_type)
        except StoreUnavailable as error:
            self._log_outage("get_or_load", [key], error)
            return await load()
        if cached is not None:
            return cached
        value = await load()
        await self.set(key, value)
        return value

    async def set(self, key: CacheKey, value: object) -> None:
        """Cache `value` for its family's TTL; an unreachable store is logged, not raised."""
        store = self._store(key.family)
        if store is None:
            return
        encoded = msgspec.json.encode(value).decode()
        try:
            await store.set(self._name(key), encoded, key.family.ttl_s)
        except StoreUnavailable as error:
            self._log_outage("set", [key], error)

    async def invalidate(self, *keys: CacheKey) -> None:
        """Delete the entries (e.g. after the database changed), in any families; an unreachable
        store is logged, not raised, and its entries expire by their TTL."""
        by_store: dict[str, tuple[KeyValueStore, list[CacheKey]]] = {}
        for key in keys:
            store = self._store(key.family)
            if store is not None:
                by_store.setdefault(key.family.store, (store, []))[1].append(key)
        await asyncio.gather(*(self._delete(store, group) for store, group in by_store.values()))

    async def _cached(self, key: CacheKey, value_type: type[T]) -> T | None:
        store = self._store(key.family)
        if store is None:
            return None
        text = await store.get(self._name(key))
        if text is None:
            return None
        try:
            return msgspec.json.decode(text, type=value_type)
        except msgspec.DecodeError as error:
            # Written by an older shape of the type, or by hand: a miss, overwritten on reload.
            logger.warning("cache entry unreadable", key=self._name(key), error=str(error))
            return None

    async def _delete(self, store: KeyValueStore, keys: Sequence[CacheKey]) -> None:
        try:
            await store.delete([self._name(key) for key in keys])
        except StoreUnavailable as error:
            self._log_outage("invalidate", keys, error)

    def _store(self, family: CacheFamily) -> KeyValueStore | None:
        return self.stores.sessions if family.store == "sessions" else self.stores.cache

    def _name(self, key: CacheKey) -> str:
        return f"{self.key_prefix}{key.name}"

    def _log_outage(self, operation: str, keys: Sequence[CacheKey], error: Exception) -> None:
        # One line per call, no traceback: an outage is expected and the database answered.
        logger.warning(
            "cache unavailable",
            operation=operation,
            keys=[self._name(key) for key in keys],
            error=str(error),
        )
