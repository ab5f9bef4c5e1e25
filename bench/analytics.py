"""Analytics: admin statistics on 10 million page views over a year, and page-view ingest.

1. Generation: `ANALYTICS_BENCH_ROWS` (default 10,000,000) views spread uniformly over the last
   365 days, 1,000 paths and 50 referrers (skewed), ~5,000 visitors a day, written by one
   `insert … select … from generate_series` into a database of its own. The rollups are built by
   the page_views trigger itself, on that one statement's transition table: the path every batch
   of the ingest takes. As a bulk load does, the statement runs with page_views' secondary
   indexes dropped, and they are built again afterwards (included in the time reported).
2. Statistics: `GET /analytics/stats?days=1|30|366` as an admin through `sajtmaskin serve
   analytics` on each data plane, beside a floor of a bare `select count(*) from page_views`
   over the same range (index-only, no RLS, no HTTP): p50/p99 at concurrency 1.
3. Ingest: `POST /analytics/pageview` at concurrency 32 (rate limiting off), views per second
   counted once the service has flushed them all into page_views (rows counted in the table).
"""

import asyncio
import os
import secrets
import statistics
import time
import uuid

import httpx
import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.measure import Figures, measure
from bench.servers import (
    access_token,
    bench_database,
    postgres_server_url,
    redis_server_url,
    serve_service,
    user_token,
)
from services.analytics.bots import BotFilter
from services.analytics.ingest import Ingest, Sighting
from services.analytics.models.pageviews import PageViewIn
from services.analytics.repo.pageviews import PageViewRepository
from services.analytics.visitors import Visitors
from shared.config import Settings
from shared.data.plane import open_data_plane
from shared.identity import Caller, service_caller
from shared.local_stack import PostgrestServer

ROWS = int(os.environ.get("ANALYTICS_BENCH_ROWS", "10000000"))
STATS_RUNS = 40  # per range and plane, at concurrency 1
FLOOR_RUNS = 10  # a year's count(*) takes over a second
INGEST_VIEWS = int(os.environ.get("ANALYTICS_BENCH_VIEWS", "5000"))
INGEST_CONCURRENCY = 32
PIPELINE_VIEWS = 100_000
"""Views through the ingest pipeline itself (accept, batch, write), without HTTP."""
RANGES = (1, 30, 366)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

# user_id and session_id are given (null), so their defaults (the caller's id) are not computed
# 10 million times.
GENERATE = """
insert into public.page_views
  (path, referrer, user_agent, visitor_hash, created_at, user_id, session_id)
select '/p/' || floor(1000 * power(random(), 3))::int,
       case when random() < 0.6 then null
            else 'https://r' || floor(50 * power(random(), 2))::int || '.example/' end,
       %(user_agent)s,
       lpad(to_hex(floor(random() * 5000)::int), 32, '0'),
       now() - random() * interval '365 days',
       null, null
from generate_series(1, %(rows)s)
"""
FLOOR = "select count(*) from public.page_views where created_at >= %s"


def generate(database_url: str) -> dict[str, float]:
    """Write ROWS views (and their rollups, by the trigger); seconds per step."""
    timings: dict[str, float] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set work_mem = '256MB'")
        conn.execute("set maintenance_work_mem = '512MB'")
        indexes = conn.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'public'"
            " and tablename = 'page_views' and indexname <> 'page_views_pkey'"
        ).fetchall()
        started = time.perf_counter()
        for name, _ in indexes:
            conn.execute(sql.SQL("drop index public.{}").format(sql.Identifier(name)))
        conn.execute(GENERATE, {"rows": ROWS, "user_agent": USER_AGENT})
        timings["insert and rollups (trigger)"] = time.perf_counter() - started
        mark = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        timings["indexes rebuilt"] = time.perf_counter() - mark
        mark = time.perf_counter()
        conn.execute("vacuum analyze public.page_views")
        for table in ("daily", "daily_paths", "daily_referrers", "daily_visitors"):
            conn.execute(
                sql.SQL("vacuum analyze public.{}").format(sql.Identifier(f"page_view_{table}"))
            )
        timings["vacuum analyze"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - started
    return timings


def an_admin(database_url: str, secret: str) -> str:
    """A new admin's access token."""
    user_id = str(uuid.uuid4())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.users (id, email, email_verified, tier)"
            " values (%s, %s, true, 'admin')",
            (user_id, f"admin-{user_id[:8]}@example.com"),
        )
    return user_token(secret, user_id)


def floor_figures(database_url: str) -> list[Figures]:
    """A bare count(*) over each range's rows, as the database owner."""
    figures = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for days in RANGES:
            since = conn.execute(
                "select ((now() at time zone 'UTC')::date - %s + 1)::timestamp at time zone 'UTC'",
                (days,),
            ).fetchone()
            assert since is not None
            conn.execute(FLOOR, since)
            latencies = []
            for _ in range(FLOOR_RUNS):
                started = time.perf_counter()
                conn.execute(FLOOR, since).fetchone()
                latencies.append(time.perf_counter() - started)
            figures.append(figures_of(f"floor: count(*) over {days} day(s)", latencies, 1))
    return figures


def figures_of(name: str, latencies: list[float], concurrency: int) -> Figures:
    ordered = sorted(latencies)
    return Figures(
        name=name,
        concurrency=concurrency,
        requests=len(ordered),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        per_second=len(ordered) / sum(ordered),
    )


async def stats_figures(url: str, plane: str, token: str) -> list[Figures]:
    figures = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        for days in RANGES:

            async def get_stats(days: int = days) -> None:
                response = await client.get(f"/analytics/stats?days={days}")
                response.raise_for_status()

            figures.append(
                await measure(
                    f"GET /analytics/stats?days={days} ({plane})",
                    get_stats,
                    concurrency=1,
                    requests=STATS_RUNS,
                )
            )
    return figures


def count_views(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        counted = conn.execute("select count(*) from public.page_views").fetchone()
    assert counted is not None
    return int(counted[0])


async def ingest_figures(url: str, plane: str, database_url: str) -> tuple[float, float]:
    """Views per second accepted (202s) and stored (rows in page_views after the flush)."""
    before = count_views(database_url)
    sent = 0
    headers = {"User-Agent": USER_AGENT}
    limits = httpx.Limits(max_connections=INGEST_CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def worker(number: int) -> None:
            nonlocal sent
            while sent < INGEST_VIEWS:
                sent += 1
                response = await client.post(
                    "/analytics/pageview",
                    json={"path": f"/ingest/{number}", "referrer": "https://bench.example/"},
                )
                assert response.status_code == 202, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker(number) for number in range(INGEST_CONCURRENCY)))
        accepted = time.perf_counter() - started
        deadline = time.monotonic() + 60
        while count_views(database_url) < before + INGEST_VIEWS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest on {plane}: views missing after 60 s")
            await asyncio.sleep(0.05)
        stored = time.perf_counter() - started
    return INGEST_VIEWS / accepted, INGEST_VIEWS / stored


async def pipeline_figures(
    settings: Settings, plane: str, database_url: str
) -> tuple[float, float]:
    """Views per second through one process's ingest pipeline with the database as the only
    sink: `Ingest.accept` from 32 tasks at once (bot check, visitor hash, buffer) and its writer
    (batches of PAGE_VIEW_BATCH_ROWS through `record_page_views`), until every view is a row."""
    before = count_views(database_url)
    anonymous = Caller(role="anon", claims={"role": "anon"}, token="")
    async with httpx.AsyncClient(timeout=30) as http:
        data = await open_data_plane(msgspec.structs.replace(settings, data_plane=plane), http)
        repository = PageViewRepository(data, service_caller(settings))
        ingest = Ingest(settings, repository, Visitors(repository), BotFilter())
        ingest.start()
        sent = 0

        async def visitor(number: int) -> None:
            nonlocal sent
            sighting = Sighting(f"198.51.100.{number}", USER_AGENT, prefetch=False)
            while sent < PIPELINE_VIEWS:
                sent += 1
                view = PageViewIn(path=f"/pipeline/{sent % 50}", referrer="https://bench.example/")
                await ingest.accept(anonymous, view, sighting)

        started = time.perf_counter()
        try:
            await asyncio.gather(*(visitor(number) for number in range(INGEST_CONCURRENCY)))
            accepted = time.perf_counter() - started
        finally:
            await ingest.close()
            await data.close()
        stored = time.perf_counter() - started
    if count_views(database_url) < before + PIPELINE_VIEWS:
        raise RuntimeError(f"the {plane} pipeline lost views")
    return PIPELINE_VIEWS / accepted, PIPELINE_VIEWS / stored


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    anon_key = access_token(secret, {"role": "anon"})
    service_key = access_token(secret, {"role": "service_role"})
    with redis_server_url() as redis_url, bench_database(server_url) as database_url:
        timings = generate(database_url)
        token = an_admin(database_url, secret)
        figures = floor_figures(database_url)
        ingest: dict[str, tuple[float, float]] = {}
        with PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest:
            env = {
                "DATABASE_URL": make_conninfo(database_url, user="authenticator"),
                "SUPABASE_REST_URL": postgrest.url,
                "SUPABASE_ANON_KEY": anon_key,
                "SUPABASE_SERVICE_ROLE_KEY": service_key,
                "JWT_SECRET": secret,
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": f"bench-{uuid.uuid4()}:",
                "LOG_LEVEL": "warning",
                # Thousands of views from one address: measure the path, not the limit.
                "RATE_LIMIT_ENABLED": "false",
            }
            settings = Settings(
                database_url=env["DATABASE_URL"],
                supabase_rest_url=postgrest.url,
                supabase_anon_key=anon_key,
                supabase_service_role_key=service_key,
                jwt_secret=secret,
            )
            for plane in ("postgrest", "postgres"):
                with serve_service("analytics", {**env, "DATA_PLANE": plane}) as service:
                    figures += asyncio.run(stats_figures(service.url, plane, token))
                    ingest[f"POST /analytics/pageview ({plane})"] = asyncio.run(
                        ingest_figures(service.url, plane, database_url)
                    )
                ingest[f"the ingest pipeline in process, {PIPELINE_VIEWS:,} views ({plane})"] = (
                    asyncio.run(pipeline_figures(settings, plane, database_url))
                )
    print(f"Analytics on {ROWS:,} generated page views over a year:\n")
    print("| generation step | seconds |\n|---|---:|")
    for step, seconds in timings.items():
        print(f"| {step} | {seconds:.1f} |")
    print("\n| statistics | p50 ms | p99 ms | x floor (p50) |\n|---|---:|---:|---:|")
    floors = dict(zip(RANGES, figures, strict=False))
    for row in figures:
        days = next(days for days in RANGES if f"{days} day" in row.name or f"={days} " in row.name)
        ratio = row.p50_ms / floors[days].p50_ms
        print(f"| {row.name} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {ratio:.2f} |")
    print(
        f"\n| ingest, concurrency {INGEST_CONCURRENCY} ({INGEST_VIEWS:,} views over HTTP)"
        " | accepted views/s | stored views/s |\n|---|---:|---:|"
    )
    for path, (accepted, stored) in ingest.items():
        print(f"| {path} | {accepted:,.0f} | {stored:,.0f} |")


if __name__ == "__main__":
    main()
