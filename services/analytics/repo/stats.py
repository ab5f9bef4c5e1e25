"""The statistics query, as the caller: `analytics_stats` answers admins and refuses anyone
else in SQL (PT409 `admin_required`), so this repository holds no rule of its own."""

from datetime import date

import msgspec

from services.analytics.models.stats import (
    TOP,
    AdminRequired,
    DayCounts,
    GuestUsage,
    PathViews,
    ReferrerViews,
    Statistics,
)
from shared.data.query import Rpc
from shared.data.repository import Repository
from shared.data.rows import row_as
from shared.errors import RuleRefused

ADMIN_RULE = "admin_required"


class StatsRow(msgspec.Struct, frozen=True):
    """The one row `analytics_stats` returns."""

    first_day: date
    last_day: date
    views: int
    visitors: int
    top_paths: list[PathViews]
    top_referrers: list[ReferrerViews]
    daily: list[DayCounts]
    signups: int
    sites_created: int
    guests: int
    guest_generations: int
    guest_refines: int


class StatsRepository(Repository):
    async def statistics(self, days: int) -> Statistics:
        """The statistics of the `days` UTC days ending today; `AdminRequired` (403) unless the
        caller is an admin."""
        try:
            rows = await self.rows(Rpc("analytics_stats", {"p_days": days, "p_top": TOP}))
        except RuleRefused as refused:
            if refused.rule == ADMIN_RULE:
                raise AdminRequired("Statistics are for admins only.") from None
            raise
        row = row_as(StatsRow, rows[0])
        return Statistics(
            days=days,
            first_day=row.first_day,
            last_day=row.last_day,
            views=row.views,
            visitors=row.visitors,
            top_paths=row.top_paths,
            top_referrers=row.top_referrers,
            daily=row.daily,
            signups=row.signups,
            sites_created=row.sites_created,
            guest_usage=GuestUsage(row.guests, row.guest_generations, row.guest_refines),
        )
