"""Visitor hashes and their salts, on both data planes: the same visitor hashes alike within a day
and differently on another day; salts are random per day, agreed on by parallel first calls, and
deleted once older than yesterday (48 h at most); only the service role reaches the salts or
writes a batch, through PostgREST too."""

import asyncio
import datetime as dt

import httpx
import pytest

from services.analytics.repo.pageviews import PageViewRepository
from services.analytics.visitors import Visitors
from shared.config import Settings
from shared.data.plane import open_data_plane
from shared.errors import RuleRefused
from tests.analytics.conftest import Db
from tests.conftest import JWT_SECRET
from tests.tenancy import anon_key
from tests.world import a_guest, a_user, bearer, service_role

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


async def test_the_same_visitor_hashes_alike_within_a_day_and_differently_the_next(
    settings: Settings,
) -> None:
    async with httpx.AsyncClient() as http:
        plane = await open_data_plane(settings, http)
        try:
            visitors = Visitors(PageViewRepository(plane, service_role()))
            day, next_day = today(), today() + dt.timedelta(days=1)
            morning = await visitors.visitor_hash("198.51.100.4", BROWSER, noon(day))
            evening = await visitors.visitor_hash(
                "198.51.100.4", BROWSER, noon(day) + dt.timedelta(hours=11)
            )
            tomorrow = await visitors.visitor_hash("198.51.100.4", BROWSER, noon(next_day))
            neighbour = await visitors.visitor_hash("198.51.100.5", BROWSER, noon(day))
            # Another process (a fresh cache) agrees on the day's salt.
            elsewhere = await Visitors(PageViewRepository(plane, service_role())).visitor_hash(
                "198.51.100.4", BROWSER, noon(day)
            )
        finally:
            await plane.close()

    assert morning is not None
    assert morning == evening == elsewhere
    assert tomorrow not in (None, morning)
    assert neighbour != morning
    assert "198.51.100.4" not in morning


async def test_parallel_first_calls_of_a_day_agree_on_its_salt(settings: Settings, db: Db) -> None:
    day = today() + dt.timedelta(days=1)
    db.execute("delete from public.analytics_salts where day = %s", (day,))
    async with httpx.AsyncClient() as http:
        plane = await open_data_plane(settings, http)
        try:
            salts = await asyncio.gather(
                *(PageViewRepository(plane, service_role()).salt(day) for _ in range(8))
            )
        finally:
            await plane.close()

    assert len(set(salts)) == 1
    assert len(salts[0]) == 64


async def test_salts_older_than_yesterday_are_deleted_and_old_days_refused(
    settings: Settings, db: Db
) -> None:
    old = today() - dt.timedelta(days=2)
    yesterday = today() - dt.timedelta(days=1)
    db.execute(
        "insert into public.analytics_salts (day, salt, created_at)"
        " values (%s, repeat('a', 64), now() - interval '49 hours'),"
        " (%s, repeat('b', 64), now() - interval '25 hours')"
        " on conflict (day) do update set salt = excluded.salt",
        (old, yesterday),
    )
    async with httpx.AsyncClient() as http:
        plane = await open_data_plane(settings, http)
        try:
            repository = PageViewRepository(plane, service_role())
            await repository.salt(today())
            kept_yesterday = await repository.salt(yesterday)
            with pytest.raises(RuleRefused) as refused:
                await repository.salt(old)
        finally:
            await plane.close()

    days = {row["day"] for row in db.execute("select day from public.analytics_salts")}
    assert old not in days
    assert kept_yesterday == "b" * 64
    assert refused.value.rule == "salt_day_out_of_range"


def test_no_client_reads_the_salts_or_writes_a_batch_through_the_data_api(
    database_url: str, postgrest_url: str
) -> None:
    anon = {"apikey": anon_key(JWT_SECRET)}
    callers = [
        anon,
        {**anon, **bearer(a_guest())},
        {**anon, **bearer(a_user(database_url))},
        {**anon, **bearer(a_user(database_url, tier="admin"))},
    ]
    with httpx.Client(base_url=postgrest_url) as http:
        for headers in callers:
            salts = http.get("/analytics_salts", headers=headers)
            salt = http.post(
                "/rpc/analytics_visitor_salt", json={"p_day": str(today())}, headers=headers
            )
            batch = http.post(
                "/rpc/record_page_views",
                json={"p_views": [{"path": "/forged", "visitor_hash": "x" * 32}]},
                headers=headers,
            )
            forged_hash = http.post(
                "/page_views",
                json={"path": "/forged", "visitor_hash": "x" * 32},
                headers={**headers, "Prefer": "return=minimal"},
            )
            assert salts.status_code in (401, 403), salts.text
            assert salt.status_code in (401, 403, 404), salt.text
            assert batch.status_code in (401, 403, 404), batch.text
            assert forged_hash.status_code in (401, 403), forged_hash.text
