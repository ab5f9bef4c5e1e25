"""Admin statistics on the wire (camelCase), and the problem a non-admin gets."""

from datetime import date

import msgspec

from shared.errors import Forbidden

MAX_DAYS = 366
"""The longest range the statistics cover, in days (a leap year)."""
TOP = 10
"""How many paths and referrers the statistics name."""
DAYS_DESCRIPTION = (
    "How many UTC days the statistics cover, ending today (today counts): 1 is today alone"
)


class PathViews(msgspec.Struct, frozen=True, rename="camel"):
    path: str
    views: int


class ReferrerViews(msgspec.Struct, frozen=True, rename="camel"):
    referrer: str
    views: int


class DayCounts(msgspec.Struct, frozen=True, rename="camel"):
    """One UTC day's page views and unique visitors (distinct visitor hashes that day)."""

    day: date
    views: int
    visitors: int


class GuestUsage(msgspec.Struct, frozen=True, rename="camel"):
    """Guests who first used their free quota in the range, and the generations and refines
    they have used since."""

    guests: int
    generations: int
    refines: int


class Statistics(msgspec.Struct, frozen=True, rename="camel"):
    """What happened in the `days` UTC days from `firstDay` to `lastDay` (today), both included.

    `visitors` is the sum of each day's unique visitors: visitor hashes are salted per day, so
    one person on two days counts twice, by design (no one can be followed across days)."""

    days: int
    first_day: date
    last_day: date
    views: int
    visitors: int
    top_paths: list[PathViews]
    """The most viewed paths, most views first (ties by path)."""
    top_referrers: list[ReferrerViews]
    """The referrers most views came from, most first (views without one are not counted)."""
    daily: list[DayCounts]
    """Every day of the range, oldest first, days without views included as zeros."""
    signups: int
    """Users who signed up in the range."""
    sites_created: int
    """Sites created in the range and not deleted since."""
    guest_usage: GuestUsage


class AdminRequired(Forbidden):
    """Statistics are for admins (users.tier = 'admin'); the database decides."""

    code = "admin_required"
    title = "Admins only"
