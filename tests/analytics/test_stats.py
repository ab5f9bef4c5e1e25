"""Admin statistics through the service, on both data planes: the numbers of a generated data set
(views, visitors, top paths and referrers, every day, sign-ups, sites, guest usage) equal those
computed here from the data itself, for 1, 7, 30 and 366 days; out-of-range days are a 422;
users, guests and anonymous callers are refused.

The data set lives in a database of this module's own (with its own PostgREST), so the numbers
are exactly what this module wrote, whatever other tests write to the session database."""

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from services.analytics.app import create_app
from shared.config import Settings
from shared.local_stack import PostgrestServer
from shared.migrations import migrate
from tests.conftest import JWT_SECRET, create_database, drop_database, plane_settings
from tests.fakes.redis_fixtures import REDIS_URL
from tests.tenancy import service_role_key
from tests.world import Person, a_guest, a_user, bearer

StatsClient = AsyncTestClient[Litestar]

PATHS = ["/", "/pricing", "/blog/one", "/blog/two", "/om-oss", "/kontakt", "/templates/cafe"]
REFERRERS = [None, None, "https://google.com/", "https://duckduckgo.com/", "https://t.co/x"]
SPAN_DAYS = 400
"""The generated views reach this many days back, beyond the longest range."""


@dataclass(frozen=True)
class View:
    path: str
    referrer: str | None
    visitor_hash: str | None
    created_at: datetime


@dataclass(frozen=True)
class DataSet:
    today: date
    views: list[View]
    signups: list[datetime]
    sites: list[datetime]
    guests: list[tuple[datetime, int, int]]
    admin: Person
    user: Person


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def a_moment_on(day: date, now: datetime, rng: random.Random) -> datetime:
    """A random moment of a UTC day, never later than now."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = min(86_399.0, (now - start).total_seconds())
    return start + timedelta(seconds=rng.uniform(0, max(seconds, 0)))


def generate_views(now: datetime, rng: random.Random) -> list[View]:
    """Views on most days of the span, skewed to some paths, from visitors seen a few times a
    day; some without a referrer, a few without a visitor hash."""
    views: list[View] = []
    for back in range(SPAN_DAYS):
        day = now.date() - timedelta(days=back)
        if rng.random() < 0.2:
            continue  # a day without views: the series must still show it
        visitors = [uuid.uuid4().hex for _ in range(rng.randint(1, 6))]
        for _ in range(rng.randint(1, 25)):
            views.append(
                View(
                    path=rng.choices(PATHS, weights=[9, 5, 4, 3, 2, 2, 1])[0],
                    referrer=rng.choice(REFERRERS),
                    visitor_hash=None if rng.random() < 0.05 else rng.choice(visitors),
                    created_at=a_moment_on(day, now, rng),
                )
            )
    rng.shuffle(views)
    return views


def write(url: str, data: DataSet) -> None:
    """Write the data set as the database's owner: views in batches of varying size (so one
    day's visitors arrive across several statements), users, sites and guest usage."""
    with psycopg.connect(url, autocommit=True) as conn:
        position = 0
        while position < len(data.views):
            size = random.Random(position).randint(1, 300)  # noqa: S311
            batch = data.views[position : position + size]
            position += size
            with conn.cursor() as cursor:
                cursor.executemany(
                    "insert into public.page_views (path, referrer, visitor_hash, created_at)"
                    " values (%s, %s, %s, %s)",
                    [(v.path, v.referrer, v.visitor_hash, v.created_at) for v in batch],
                    returning=False,
                )
        for created_at in data.signups:
            a_user(url, created_at=created_at)
        owner = a_user(url, created_at=data.signups[0]) if data.signups else None
        assert owner is not None
        for number, created_at in enumerate(data.sites):
            conn.execute(
                "insert into public.app_projects (user_id, name, created_at) values (%s, %s, %s)",
                (owner.user_id, f"Site {number}", created_at),
            )
        for created_at, generations, refines in data.guests:
            conn.execute(
                "insert into public.guest_usage"
                " (session_id, generations_used, refines_used, created_at) values (%s, %s, %s, %s)",
                (a_guest().session_id, generations, refines, created_at),
            )


@pytest.fixture(scope="module")
def stats_database() -> Iterator[str]:
    """A migrated database of this module's own."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    url = create_database(name)
    migrate(url)
    yield url
    drop_database(name)


@pytest.fixture(scope="module")
def stats_postgrest(stats_database: str) -> Iterator[str]:
    params = conninfo_to_dict(stats_database)
    params["user"] = "authenticator"
    with PostgrestServer(make_conninfo("", **params), jwt_secret=JWT_SECRET) as server:
        yield server.url


@pytest.fixture(scope="module")
def data_set(stats_database: str) -> DataSet:
    """The generated data, written once; the admin and the plain user are sign-ups of today."""
    now = datetime.now(UTC)
    rng = random.Random(13)  # noqa: S311
    back = [timedelta(days=rng.randint(0, SPAN_DAYS), hours=rng.random()) for _ in range(40)]
    moments = sorted(min(now, now - delta) for delta in back)
    guests = [(moment, rng.randint(0, 1), rng.randint(0, 3)) for moment in moments[:15]]
    generated = DataSet(
        today=now.date(),
        views=generate_views(now, rng),
        signups=moments[::2],
        sites=moments[1::2],
        guests=guests,
        admin=a_user(stats_database, tier="admin"),
        user=a_user(stats_database, tier="pro"),
    )
    write(stats_database, generated)
    # The admin and the user, and the owner of the sites (signed up with the first sign-up).
    return DataSet(
        today=generated.today,
        views=generated.views,
        signups=[*generated.signups, generated.signups[0], now, now],
        sites=generated.sites,
        guests=generated.guests,
        admin=generated.admin,
        user=generated.user,
    )


@pytest.fixture(params=["postgrest", "postgres"])
def stats_settings(
    request: pytest.FixtureRequest, stats_database: str, stats_postgrest: str, key_prefix: str
) -> Settings:
    return msgspec.structs.replace(
        plane_settings(request.param, stats_database, stats_postgrest),
        supabase_service_role_key=service_role_key(JWT_SECRET),
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
    )


@pytest.fixture
async def stats(stats_settings: Settings) -> AsyncIterator[StatsClient]:
    async with AsyncTestClient(create_app(stats_settings)) as client:
        yield client


def expected(data: DataSet, days: int) -> dict[str, Any]:
    """The statistics of the last `days` days, computed from the data set in Python."""
    first = data.today - timedelta(days=days - 1)

    def in_range(moment: datetime) -> bool:
        return first <= day_of(moment) <= data.today

    views = [view for view in data.views if in_range(view.created_at)]
    visitors_by_day: dict[date, set[str]] = {}
    views_by_day: Counter[date] = Counter()
    for view in views:
        views_by_day[day_of(view.created_at)] += 1
        if view.visitor_hash is not None:
            visitors_by_day.setdefault(day_of(view.created_at), set()).add(view.visitor_hash)
    paths = Counter(view.path for view in views)
    referrers = Counter(view.referrer for view in views if view.referrer)
    guests = [guest for guest in data.guests if in_range(guest[0])]

    def top(counts: Counter[str], name: str) -> list[dict[str, Any]]:
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10]
        return [{name: key, "views": count} for key, count in ranked]

    every_day = [first + timedelta(days=n) for n in range(days)]
    return {
        "days": days,
        "firstDay": first.isoformat(),
        "lastDay": data.today.isoformat(),
        "views": len(views),
        "visitors": sum(len(hashes) for hashes in visitors_by_day.values()),
        "topPaths": top(paths, "path"),
        "topReferrers": top(referrers, "referrer"),
        "daily": [
            {
                "day": day.isoformat(),
                "views": views_by_day[day],
                "visitors": len(visitors_by_day.get(day, ())),
            }
            for day in every_day
        ],
        "signups": sum(in_range(moment) for moment in data.signups),
        "sitesCreated": sum(in_range(moment) for moment in data.sites),
        "guestUsage": {
            "guests": len(guests),
            "generations": sum(guest[1] for guest in guests),
            "refines": sum(guest[2] for guest in guests),
        },
    }


@pytest.mark.parametrize("days", [1, 7, 30, 366])
async def test_an_admin_gets_exactly_the_numbers_of_the_generated_views(
    days: int, data_set: DataSet, stats: StatsClient
) -> None:
    response = await stats.get(f"/analytics/stats?days={days}", headers=bearer(data_set.admin))

    assert response.status_code == 200, response.text
    assert response.json() == expected(data_set, days)


async def test_the_range_is_thirty_days_unless_asked(data_set: DataSet, stats: StatsClient) -> None:
    response = await stats.get("/analytics/stats", headers=bearer(data_set.admin))

    assert response.status_code == 200, response.text
    assert response.json() == expected(data_set, 30)


async def test_every_day_of_a_year_is_in_the_series_oldest_first(
    data_set: DataSet, stats: StatsClient
) -> None:
    response = await stats.get("/analytics/stats?days=366", headers=bearer(data_set.admin))

    daily = [day["day"] for day in response.json()["daily"]]
    assert len(daily) == 366
    assert daily == sorted(daily)
    assert daily[-1] == data_set.today.isoformat()
    assert any(day["views"] == 0 for day in response.json()["daily"])


@pytest.mark.parametrize("days", ["0", "367", "-1", "a-week"])
async def test_days_outside_one_to_366_are_refused_naming_days(
    days: str, data_set: DataSet, stats: StatsClient
) -> None:
    response = await stats.get(f"/analytics/stats?days={days}", headers=bearer(data_set.admin))

    assert response.status_code == 422, response.text
    assert "days" in response.text


async def test_a_user_who_is_not_an_admin_is_forbidden(
    data_set: DataSet, stats: StatsClient
) -> None:
    response = await stats.get("/analytics/stats?days=7", headers=bearer(data_set.user))

    assert response.status_code == 403
    assert response.json()["code"] == "admin_required"
    assert "views" not in response.json()


@pytest.mark.parametrize("who", ["guest", "anonymous"])
async def test_guests_and_anonymous_callers_must_sign_in(
    who: str, data_set: DataSet, stats: StatsClient
) -> None:
    headers = bearer(a_guest()) if who == "guest" else {}

    response = await stats.get("/analytics/stats?days=7", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
