"""Page-view writes and visitor salts, as the service role (clients reach neither)."""

import datetime as dt
from typing import Any

from shared.data.query import Rpc
from shared.data.repository import Repository


class PageViewRepository(Repository):
    """Run as the service role: `record_page_views` and `analytics_visitor_salt` are granted to
    it alone."""

    async def record(self, views: list[dict[str, Any]]) -> int:
        """Write `views` (rows of page_views' columns) in one insert; how many were written."""
        rows = await self.rows(Rpc("record_page_views", {"p_views": views}))
        return int(rows[0]["record_page_views"]) if rows else 0

    async def salt(self, day: dt.date) -> str:
        """The random salt of `day` (UTC), made on first use; hex text."""
        rows = await self.rows(Rpc("analytics_visitor_salt", {"p_day": day.isoformat()}))
        return str(rows[0]["analytics_visitor_salt"])
