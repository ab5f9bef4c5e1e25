"""Analytics' statistics in SQL: who may execute `analytics_stats` and what it answers through
real PostgREST (admins only; a user, a guest and the anon key get nothing, neither the statistics
nor the rollups nor page_views), and the rollups the page_views trigger keeps: exact under
batches racing for the same day, visitor and path.

Rollups are checked on days long past, which no other test of the shared database writes."""

import json
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.conftest import JWT_SECRET
from tests.schema.data_api import Db, as_client, executors
from tests.tenancy import anon_key
from tests.world import Person, a_guest, a_user

EXECUTORS = {
    "public.analytics_stats(integer, integer)": {"authenticated"},
    "private.analytics_stats(integer, integer)": {"authenticated"},
    "private.page_views_roll_up()": set(),
}
ROLLUPS = [
    "page_view_daily",
    "page_view_daily_paths",
    "page_view_daily_referrers",
    "page_view_daily_visitors",
]
CLIENTS: dict[str, Callable[[str], str]] = {
    "anon_key": lambda _: anon_key(JWT_SECRET),
    "guest": lambda _: a_guest().token,
    "user": lambda database_url: a_user(database_url).token,
    "pro user": lambda database_url: a_user(database_url, tier="pro").token,
}


def a_day_long_past() -> date:
    """A day in the 1990s no other test writes views on (the database is the session's)."""
    return date(1990, 1, 1) + timedelta(days=random.randrange(3650))  # noqa: S311


def at(day: date, seconds: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)


def test_statistics_are_executable_by_signed_in_users_only_and_the_trigger_by_no_one(
    db: Db,
) -> None:
    assert executors(db, list(EXECUTORS)) == EXECUTORS


@pytest.mark.parametrize("client", CLIENTS)
def test_no_one_but_an_admin_gets_statistics_through_the_data_api(
    client: str, database_url: str, http: httpx.Client
) -> None:
    token = CLIENTS[client](database_url)

    response = http.post("/rpc/analytics_stats", json={"p_days": 30}, headers=as_client(token))

    # The anon key and guests may not execute it; a user is refused by the function itself.
    if client in ("user", "pro user"):
        assert (response.status_code, response.json()["message"]) == (409, "admin_required")
    else:
        assert response.status_code == 401, response.text
    assert "views" not in response.text


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("table", [*ROLLUPS, "page_views"])
def test_no_one_but_an_admin_reads_views_or_rollups_through_the_data_api(
    table: str, client: str, database_url: str, http: httpx.Client
) -> None:
    token = CLIENTS[client](database_url)

    response = http.get(f"/{table}?select=*&limit=1", headers=as_client(token))

    # Refused outright, or (page_views' admin policy) no row visible.
    assert response.status_code in (401, 403) or response.json() == [], response.text


def test_an_admin_gets_statistics_through_the_data_api(
    database_url: str, http: httpx.Client
) -> None:
    admin = a_user(database_url, tier="admin")

    response = http.post(
        "/rpc/analytics_stats", json={"p_days": 7, "p_top": 3}, headers=as_client(admin.token)
    )

    assert response.status_code == 200, response.text
    [stats] = response.json()
    today = datetime.now(UTC).date()
    assert (stats["first_day"], stats["last_day"]) == (
        (today - timedelta(days=6)).isoformat(),
        today.isoformat(),
    )
    assert [day["day"] for day in stats["daily"]] == [
        (today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)
    ]
    assert len(stats["top_paths"]) <= 3


@pytest.mark.parametrize(("days", "top"), [(0, 10), (367, 10), (None, 10), (30, 0), (30, 101)])
def test_an_admins_range_or_top_outside_the_bounds_is_refused(
    days: int | None, top: int, database_url: str, http: httpx.Client
) -> None:
    admin = a_user(database_url, tier="admin")

    response = http.post(
        "/rpc/analytics_stats",
        json={"p_days": days, "p_top": top},
        headers=as_client(admin.token),
    )

    assert (response.status_code, response.json()["code"]) == (400, "22023")


def test_an_admin_still_reads_page_views_through_the_data_api(
    database_url: str, http: httpx.Client
) -> None:
    admin = a_user(database_url, tier="admin")

    response = http.get("/page_views?select=id&limit=1", headers=as_client(admin.token))

    assert response.status_code == 200, response.text


def test_a_user_cannot_make_itself_admin_for_statistics(
    database_url: str, http: httpx.Client
) -> None:
    user = a_user(database_url)

    promoted = http.patch(
        f"/users?id=eq.{user.user_id}",
        json={"tier": "admin"},
        headers=as_client(user.token, "return=representation"),
    )
    stats = http.post("/rpc/analytics_stats", json={"p_days": 1}, headers=as_client(user.token))

    assert promoted.status_code in (401, 403), promoted.text
    assert (stats.status_code, stats.json()["message"]) == (409, "admin_required")


def rollups(db: Db, day: date) -> tuple[tuple[int, int] | None, dict[str, int], dict[str, int]]:
    """A day's (views, visitors), views per path and views per referrer, as the rollups hold."""
    daily = db.execute(
        "select views, visitors from public.page_view_daily where day = %s", (day,)
    ).fetchone()
    paths = db.execute(
        "select path, views from public.page_view_daily_paths where day = %s", (day,)
    ).fetchall()
    referrers = db.execute(
        "select referrer, views from public.page_view_daily_referrers where day = %s", (day,)
    ).fetchall()
    return (
        None if daily is None else (daily["views"], daily["visitors"]),
        {row["path"]: row["views"] for row in paths},
        {row["referrer"]: row["views"] for row in referrers},
    )


def test_views_inserted_in_one_statement_are_rolled_up_per_utc_day(db: Db) -> None:
    day = a_day_long_past()
    views = [
        ("/a", "https://x.example/", "v1", at(day, 10)),
        ("/a", None, "v1", at(day, 20)),
        ("/b", "", "v2", at(day, 86_399)),
        ("/b", "https://x.example/", None, at(day, 30)),
        ("/a", None, "v1", at(day, 86_400)),  # the next day
    ]

    with db.cursor() as cursor:
        cursor.execute(
            "insert into public.page_views (path, referrer, visitor_hash, created_at)"
            " select * from unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[])",
            [list(column) for column in zip(*views, strict=True)],
        )

    assert rollups(db, day) == ((4, 2), {"/a": 2, "/b": 2}, {"https://x.example/": 2})
    assert rollups(db, day + timedelta(days=1)) == ((1, 1), {"/a": 1}, {})


def test_batches_racing_on_one_day_count_every_view_once_and_every_visitor_once(
    database_url: str, db: Db
) -> None:
    # given 40 batches of 50 views on one day, the same 30 visitors, 5 paths and 3 referrers
    day = a_day_long_past()
    rng = random.Random(7)  # noqa: S311
    visitors = [uuid.uuid4().hex for _ in range(30)]
    paths = [f"/race/{n}" for n in range(5)]
    referrers = [f"https://r{n}.example/" for n in range(3)]
    batches = [
        [
            (
                rng.choice(paths),
                rng.choice(referrers),
                rng.choice(visitors),
                at(day, rng.uniform(0, 86_399)),
            )
            for _ in range(50)
        ]
        for _ in range(40)
    ]

    def insert(batch: list[tuple[str, str, str, datetime]]) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "insert into public.page_views (path, referrer, visitor_hash, created_at)"
                " select * from unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[])",
                [list(column) for column in zip(*batch, strict=True)],
            )

    # when they are inserted at once, eight at a time
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(insert, batches))

    # then the rollups hold exactly what was inserted
    every_view = [view for batch in batches for view in batch]
    path_views = {path: sum(view[0] == path for view in every_view) for path in paths}
    referrer_views = {ref: sum(view[1] == ref for view in every_view) for ref in referrers}
    seen = len({view[2] for view in every_view})
    assert rollups(db, day) == ((2000, seen), path_views, referrer_views)


def test_views_recorded_by_the_service_role_are_rolled_up(database_url: str, db: Db) -> None:
    today = datetime.now(UTC).date()
    path = f"/recorded/{uuid.uuid4().hex}"
    before = rollups(db, today)[0] or (0, 0)

    with db.transaction():
        db.execute("select set_config('role', 'service_role', true)")
        db.execute(
            "select public.record_page_views(%s::jsonb)",
            (json.dumps([{"path": path, "visitor_hash": uuid.uuid4().hex} for _ in range(2)]),),
        )

    after = rollups(db, today)
    assert after[1][path] == 2
    assert after[0] is not None
    assert after[0][0] >= before[0] + 2


def test_a_client_inserting_a_view_is_rolled_up_without_reading_the_rollups(
    database_url: str, http: httpx.Client, db: Db
) -> None:
    guest: Person = a_guest()
    path = f"/by-a-guest/{uuid.uuid4().hex}"

    response = http.post(
        "/page_views", json={"path": path}, headers=as_client(guest.token, "return=minimal")
    )

    assert response.status_code == 201, response.text
    assert rollups(db, datetime.now(UTC).date())[1][path] == 1
