"""Visitor hashes: who is the same visitor today, without storing who anyone is.

`visitor_hash` = BLAKE2b keyed with the day's salt over (client address, user agent), 128 bits
as hex. Salts are random per UTC day, made and kept by the database (`analytics_visitor_salt`:
today's and yesterday's only, so at most 48 hours) and cached here for the day, so the same
visitor hashes alike all day and differently the next, and once a salt is deleted nobody can
recompute which address a stored hash came from. The address itself never leaves this module:
not in rows, not in logs.
"""

import asyncio
import datetime as dt
import hashlib

import structlog

from services.analytics.repo.pageviews import PageViewRepository
from shared.errors import Problem

log = structlog.stdlib.get_logger(__name__)

DIGEST_BYTES = 16


class Visitors:
    """Hashes visitors with the salt of the day a view happened; asks the database for a day's
    salt once per process (parallel first views of a day wait for the one request)."""

    def __init__(self, repository: PageViewRepository) -> None:
        self.repository = repository
        self._salts: dict[dt.date, bytes] = {}
        self._lock = asyncio.Lock()

    async def visitor_hash(self, address: str, user_agent: str, at: dt.datetime) -> str | None:
        """The hash of (address, user agent) on `at`'s UTC day; None when the day's salt cannot
        be had (the database is down): the view still counts, as no one's."""
        day = at.astimezone(dt.UTC).date()
        salt = self._salts.get(day)
        if salt is None:
            salt = await self._salt(day)
            if salt is None:
                return None
        digest = hashlib.blake2b(
            f"{address}\x00{user_agent}".encode("utf-8", "surrogateescape"),
            key=salt,
            digest_size=DIGEST_BYTES,
        )
        return digest.hexdigest()

    async def _salt(self, day: dt.date) -> bytes | None:
        async with self._lock:
            if day in self._salts:
                return self._salts[day]
            try:
                salt = bytes.fromhex(await self.repository.salt(day))
            except Problem:
                log.warning("visitor_salt_unavailable", day=day.isoformat(), exc_info=True)
                return None
            self._salts[day] = salt
            # Only the newest two days are kept in memory, as the database keeps them.
            newest = max(self._salts)
            for kept in [kept for kept in self._salts if kept < newest - dt.timedelta(days=1)]:
                del self._salts[kept]
            return salt
