"""Endpoints as production serves them: the projects service's list of sites, one site and a
save, measured from outside the process by wrk, against the query the list runs as its floor.

- Data: USERS signed-in users (a live session each, as auth leaves it at sign-in) of
  SITES_PER_USER sites each, every site saved once through `save_project_data` (a chat, a demo
  URL, SEEDED_FILES files).
- Server: `sajtmaskin serve projects` exactly as deployed (uvicorn on uvloop and httptools, one
  process), pinned to core SERVER_CPUS, rate limiting on against Redis with the `reads` and
  `default` policies raised so far that every request is decided and none refused, LOG_LEVEL
  info; once on the postgres plane and once on the postgrest plane (PostgREST 12). Postgres,
  PostgREST and Redis run unpinned, as system services.
- Load: wrk, one thread pinned to core LOAD_CPUS, WARM_UP_S of warm-up then RUN_S timed per row,
  with one user's token; saves go round all users' sites, as USERS users saving at once would.
- Server CPU per request: the server process's user and system time (its workers' too) over the
  timed run, divided by the requests wrk completed; and the decisions its limiter made without
  Redis (failing open) meanwhile, from its /metrics.
- Floor: the query the list runs on a cache miss (`ProjectRepository.page`, the repository's own,
  as the same user through each plane) in a tight loop in this process, pinned to the server's
  core and on the server's event loop (uvloop); a bare psycopg query with no RLS for reference.
- Workers: GET /projects once more with WEB_CONCURRENCY=2 and with 1, both unpinned (two
  processes need both cores, which wrk and the databases share).

Then the ratios issue 14 sets as targets, each with ✓ or ✗. Needs wrk (apt-get install wrk) and
two cores; `--rounds N` repeats everything and prints each figure's median, for a busy machine.
"""

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import msgspec
import psycopg
import uvloop
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from bench.measure import measure
from bench.servers import (
    Served,
    access_token,
    bench_database,
    postgres_server_url,
    redis_server_url,
    serve_service,
)
from services.projects.models.sites import MAX_PAGE
from services.projects.repo.sites import ProjectRepository
from shared.app import HTTP_LIMITS
from shared.config import Settings
from shared.data.plane import open_data_plane
from shared.identity import Caller
from shared.local_stack import PostgrestServer

USERS = 100
SITES_PER_USER = 20
SEEDED_FILES = 3
SEEDED_FILE_BYTES = 2_000
SAVED_FILES = 5
SAVED_FILE_BYTES = 10_000  # a save of 5 files of 10 KB: 50 KB

SERVER_CPUS = "0"
LOAD_CPUS = "1"
WARM_UP_S = 1
RUN_S = 5
WRK_TIMEOUT_S = 10  # far above any latency here: a slow request shows in p99, not as an error
LOG_LEVEL = "info"  # production's default
# Every request is decided by the limiter and none refused. An interval (window / limit) of a
# second keeps clear of the GCRA script's floor (intervals under ~0.25 ms break it).
ROOMY_READS = "100000000"
ROOMY_LIMITS = f"reads={ROOMY_READS}/{ROOMY_READS},default={ROOMY_READS}/{ROOMY_READS}"
FALLBACKS_METRIC = "sajtmaskin_rate_limit_fallbacks"
FLOOR_RUNS = {1: 1000, 32: 3000}  # concurrency → queries
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

LIST = "GET /projects"
LATER_PAGE = "GET /projects?before=… (a later page)"
SITE = "GET /projects/{id}"
SAVE = "PUT /projects/{id}/data (a 50 KB save)"
ONE_UNPINNED = "GET /projects, WEB_CONCURRENCY=1, unpinned"
TWO_WORKERS = "GET /projects, WEB_CONCURRENCY=2, unpinned"
FLOOR = "floor: the list's query, as the user"

# wrk's done() hook: the run's figures as one JSON line after its own report.
DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""

# A save per request, each a different site of a different user than the one before, its body
# different every time (the run number), SAVED_FILES files of SAVED_FILE_BYTES.
SAVE_LUA = """
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
local targets = {%(targets)s}
local filler = string.rep("x", %(file_bytes)d)
local run = 0
request = function()
  run = run + 1
  local target = targets[run %% #targets + 1]
  wrk.headers["Authorization"] = "Bearer " .. target[1]
  local files = {}
  for n = 1, %(files)d do
    files[n] = string.format('{"name":"app/section-%%d.tsx","content":"// run %%d %%s"}',
      n, run, filler)
  end
  local body = string.format(
    '{"demoUrl":"https://demo-%%d.vusercontent.net","files":[%%s],"meta":{"run":%%d}}',
    run, table.concat(files, ","), run)
  return wrk.format(nil, "/projects/" .. target[2] .. "/data", nil, body)
end
"""


class WrkRun(msgspec.Struct, frozen=True):
    """What DONE_LUA prints."""

    requests: int
    duration_us: int
    errors: int
    p50_us: int
    p99_us: int


class Row(msgspec.Struct, frozen=True):
    """One line of the table."""

    name: str
    plane: str
    concurrency: int
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None
    """CPU time per request: the server's (all its processes), or for the in-process rows this
    process's (the client side of the plane)."""
    db_cpu_ms: float | None = None  # Postgres's CPU per request (the bench database's backends)
    fallbacks: int | None = None  # limiter decisions made without Redis during the run


class Load(msgspec.Struct, frozen=True):
    """A request wrk repeats: a path with one user's token, or a Lua script of its own."""

    name: str
    path: str = "/projects"
    script: str = ""


class Seeded(msgspec.Struct, frozen=True):
    """The bench's users: their ids, access tokens and sites, newest first."""

    user_ids: list[str]
    tokens: list[str]
    sites: list[list[str]]


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench.endpoints needs wrk: apt-get install wrk")
    return found


@contextmanager
def sites_database(server_url: str, secret: str) -> Iterator[tuple[str, Seeded]]:
    """A database of its own with USERS signed-in users of SITES_PER_USER saved sites each."""
    with bench_database(server_url) as url:
        with psycopg.connect(url) as conn:
            users = conn.execute(
                "insert into public.users (email, email_verified, tier)"
                " select 'bench' || n || '@example.com', true, 'pro'"
                " from generate_series(1, %s) as n"
                " returning id, email",
                (USERS,),
            ).fetchall()
            sessions = conn.execute(
                "insert into public.refresh_tokens (user_id, family_id, token_hash, expires_at)"
                " select id, gen_random_uuid(), 'bench-' || id, now() + interval '30 days'"
                " from public.users"
                " returning user_id, family_id"
            ).fetchall()
            conn.execute(
                "insert into public.app_projects (user_id, name, category, description,"
                " created_at)"
                " select u.id, 'Site ' || n, 'bench', 'A site the bench made',"
                " now() - n * interval '1 minute'"
                " from public.users as u, generate_series(1, %s) as n",
                (SITES_PER_USER,),
            )
            # As the save endpoint writes them (the function also fills project_files).
            conn.execute(
                "select public.save_project_data(site.id, jsonb_build_object("
                "  'chat_id', 'chat-' || left(site.id::text, 8),"
                "  'demo_url', 'https://demo-' || left(site.id::text, 8) || '.vusercontent.net',"
                "  'files', (select jsonb_agg(jsonb_build_object("
                "    'name', 'app/section-' || n || '.tsx', 'content', repeat('x', %s)))"
                "    from generate_series(1, %s) as n)))"
                " from public.app_projects as site",
                (SEEDED_FILE_BYTES, SEEDED_FILES),
            )
            sites: dict[str, list[str]] = {}
            for user_id, site_id in conn.execute(
                "select user_id, id from public.app_projects order by created_at desc, id desc"
            ):
                sites.setdefault(str(user_id), []).append(str(site_id))
        emails = {str(user_id): email for user_id, email in users}
        session_of = {str(user_id): str(family_id) for user_id, family_id in sessions}
        user_ids = list(emails)
        tokens = [
            access_token(
                secret,
                {
                    "role": "authenticated",
                    "aud": "authenticated",
                    "sub": user_id,
                    "email": emails[user_id],
                    "session_id": session_of[user_id],
                },
            )
            for user_id in user_ids
        ]
        yield url, Seeded(user_ids, tokens, [sites[user_id] for user_id in user_ids])


def cpu_ticks() -> dict[int, tuple[int, int]]:
    """Every process's parent and user plus system CPU time so far, in clock ticks."""
    processes = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # After the command name in parentheses: state, ppid, …, utime (14th), stime (15th).
        fields = stat[stat.rindex(")") + 2 :].split()
        processes[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return processes


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of `pid` and every process descended from it."""
    processes = cpu_ticks()
    family = {pid}
    grew = True
    while grew:
        children = {child for child, (parent, _) in processes.items() if parent in family}
        grew = not children <= family
        family |= children
    return sum(processes[member][1] for member in family if member in processes) / CLOCK_TICKS


class DatabaseCpu:
    """The CPU time of the Postgres backends serving one database, when Postgres runs on this
    machine: what the database spends per request, whoever else uses the same server."""

    def __init__(self, server_url: str, database: str) -> None:
        self.server_url = server_url
        self.database = database

    def snapshot(self) -> dict[int, int]:
        """Each backend of the database and its CPU ticks so far; empty when none is local."""
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            backends = conn.execute(
                "select pid from pg_stat_activity where datname = %s", (self.database,)
            ).fetchall()
        ticks = cpu_ticks()
        return {pid: ticks[pid][1] for (pid,) in backends if pid in ticks}

    def seconds_since(self, before: dict[int, int]) -> float | None:
        """CPU seconds the database's backends spent since `before` (a backend that closed
        meanwhile takes its share with it: the pools here keep theirs open)."""
        after = self.snapshot()
        if not after:
            return None
        return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / CLOCK_TICKS


def run_wrk(url: str, load: Load, concurrency: int, seconds: int, token: str) -> WrkRun:
    """One wrk run of `load` at `concurrency` for `seconds`; refuses a run with any failure."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(load.script + DONE_LUA)
        script.flush()
        command = [
            *("taskset", "--cpu-list", LOAD_CPUS, wrk_binary()),
            *("--threads", "1", "--connections", str(concurrency)),
            *("--duration", f"{seconds}s", "--timeout", f"{WRK_TIMEOUT_S}s", "--latency"),
            *("--header", f"Authorization: Bearer {token}", "--script", script.name),
            url + load.path,
        ]
        output = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=True
        ).stdout
    run = msgspec.json.decode(output.strip().splitlines()[-1], type=WrkRun)
    if run.errors or not run.requests:
        raise RuntimeError(
            f"{load.name} at c={concurrency}: {run.errors} of {run.requests} requests failed"
            f" (an error status or a socket error); wrk said:\n{output}"
        )
    return run


def limiter_fallbacks(url: str) -> float:
    """How many decisions the server's limiter has made without Redis (failing open) so far."""
    metrics = httpx.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == FALLBACKS_METRIC
        for sample in family.samples
        if sample.name == f"{FALLBACKS_METRIC}_total"
    )


def endpoint_rows(
    served: Served,
    database: DatabaseCpu,
    plane: str,
    loads: list[tuple[Load, tuple[int, ...]]],
    token: str,
    processes: int = 1,
) -> list[Row]:
    """Each load at each of its concurrencies; the limiter's fallbacks are counted when one
    process serves (each has its own /metrics)."""
    rows = []
    for load, concurrencies in loads:
        for concurrency in concurrencies:
            run_wrk(served.url, load, concurrency, WARM_UP_S, token)
            cpu_before, database_before = cpu_seconds(served.pid), database.snapshot()
            fallbacks_before = limiter_fallbacks(served.url)
            run = run_wrk(served.url, load, concurrency, RUN_S, token)
            cpu = cpu_seconds(served.pid) - cpu_before
            database_cpu = database.seconds_since(database_before)
            fallbacks = limiter_fallbacks(served.url) - fallbacks_before
            rows.append(
                Row(
                    load.name,
                    plane,
                    concurrency,
                    per_second=run.requests / (run.duration_us / 1e6),
                    p50_ms=run.p50_us / 1000,
                    p99_ms=run.p99_us / 1000,
                    cpu_ms=cpu * 1000 / run.requests,
                    db_cpu_ms=per_request_ms(database_cpu, run.requests),
                    fallbacks=int(fallbacks) if processes == 1 else None,
                )
            )
    return rows


def per_request_ms(seconds: float | None, requests: int) -> float | None:
    return None if seconds is None else seconds * 1000 / requests


def save_load(seeded: Seeded) -> Load:
    # Site-major: consecutive saves are different users', so none waits on another's row lock.
    targets = [
        (seeded.tokens[user], seeded.sites[user][site])
        for site in range(SITES_PER_USER)
        for user in range(USERS)
    ]
    script = SAVE_LUA % {
        "targets": ",".join(f'{{"{token}","{site}"}}' for token, site in targets),
        "file_bytes": SAVED_FILE_BYTES,
        "files": SAVED_FILES,
    }
    return Load(SAVE, script=script)


def next_page_path(url: str, token: str) -> str:
    """The list's second page as a client reaches it: after a first page of one site. Checks
    on the way that the limiter decides, with the roomy policy."""
    response = httpx.get(
        f"{url}/projects", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    if response.headers.get("RateLimit-Limit") != ROOMY_READS:
        raise RuntimeError(f"the list is not rate limited by reads={ROOMY_READS}/…")
    return f"/projects?before={response.json()['nextCursor']}"


def projects_env(settings: Settings, plane: str, redis_url: str, workers: int) -> dict[str, str]:
    """`sajtmaskin serve projects` as production configures it, on `plane`."""
    return {
        "DATA_PLANE": plane,
        "DATABASE_URL": settings.database_url or "",
        "SUPABASE_REST_URL": settings.supabase_rest_url or "",
        "SUPABASE_ANON_KEY": settings.supabase_anon_key or "",
        # Its workers (the generation sweeper, deployments) run as the service role.
        "SUPABASE_SERVICE_ROLE_KEY": settings.supabase_service_role_key or "",
        "JWT_SECRET": settings.jwt_secret or "",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"bench-{uuid.uuid4()}:",
        "LOG_LEVEL": LOG_LEVEL,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMITS": ROOMY_LIMITS,
        "WEB_CONCURRENCY": str(workers),
    }


async def floor_rows(
    settings: Settings, caller: Caller, owner_url: str, user_id: str, database: DatabaseCpu
) -> list[Row]:
    """The list's query in a tight loop: through each plane as the user, and bare."""
    rows = []

    async def measured(plane: str, name: str, query: Callable[[], Awaitable[object]]) -> None:
        for concurrency, queries in FLOOR_RUNS.items():
            database_before = database.snapshot()
            f = await measure(name, query, concurrency=concurrency, requests=queries)
            # The warm-up's few queries count too: a percent at most.
            database_cpu = per_request_ms(database.seconds_since(database_before), f.requests)
            rows.append(
                Row(
                    name,
                    plane,
                    concurrency,
                    f.per_second,
                    f.p50_ms,
                    f.p99_ms,
                    f.cpu_ms,
                    database_cpu,
                )
            )

    bare = (
        "select site.id, site.name, site.category, site.description, site.thumbnail_path,"
        " saved.demo_url, site.created_at, site.updated_at"
        " from public.app_projects as site"
        " left join public.project_data as saved on saved.project_id = site.id"
        " where site.user_id = %s order by site.created_at desc, site.id desc limit %s"
    )
    async with AsyncConnectionPool(
        owner_url, min_size=settings.db_pool_size, max_size=settings.db_pool_size
    ) as pool:

        async def bare_query() -> None:
            async with pool.connection() as conn:
                await (await conn.execute(bare, (user_id, MAX_PAGE + 1))).fetchall()

        await measured("—", "bare psycopg, no RLS (reference)", bare_query)
    async with httpx.AsyncClient(timeout=settings.http_timeout_s, limits=HTTP_LIMITS) as http:
        for plane_name in ("postgres", "postgrest"):
            plane = await open_data_plane(
                msgspec.structs.replace(settings, data_plane=plane_name), http
            )
            sites = ProjectRepository(plane, caller)

            async def list_sites(sites: ProjectRepository = sites) -> None:
                await sites.page(MAX_PAGE)

            try:
                await measured(plane_name, FLOOR, list_sites)
            finally:
                await plane.close()
    return rows


@contextmanager
def pinned(cpus: str) -> Iterator[None]:
    """This process on `cpus` only (taskset's list of single CPUs) for the block."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def measure_all() -> list[Row]:
    wrk_binary()
    if not {int(SERVER_CPUS), int(LOAD_CPUS)} <= os.sched_getaffinity(0):
        raise SystemExit(f"bench.endpoints needs CPUs {SERVER_CPUS} and {LOAD_CPUS}")
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    with (
        redis_server_url() as redis_url,
        sites_database(server_url, secret) as (database_url, seeded),
        PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest,
    ):
        settings = Settings(
            database_url=make_conninfo(database_url, user="authenticator"),
            supabase_rest_url=postgrest.url,
            supabase_anon_key=access_token(secret, {"role": "anon"}),
            supabase_service_role_key=access_token(secret, {"role": "service_role"}),
            jwt_secret=secret,
        )
        user_id, token = seeded.user_ids[0], seeded.tokens[0]
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience="authenticated")
        caller = Caller(role="authenticated", claims=claims, token=token)
        database = DatabaseCpu(server_url, str(conninfo_to_dict(database_url)["dbname"]))
        with pinned(SERVER_CPUS):
            rows = uvloop.run(floor_rows(settings, caller, database_url, user_id, database))

        save = save_load(seeded)
        for plane in ("postgres", "postgrest"):
            with serve_service(
                "projects", projects_env(settings, plane, redis_url, 1), cpus=SERVER_CPUS
            ) as served:
                loads = [
                    (Load(LIST), (1, 32)),
                    (Load(LATER_PAGE, next_page_path(served.url, token)), (1, 32)),
                    (Load(SITE, f"/projects/{seeded.sites[0][0]}"), (32,)),
                    (save, (32,)),
                ]
                rows += endpoint_rows(served, database, plane, loads, token)
        # Two processes need both cores: both unpinned, so they compare with each other.
        for processes, name, concurrencies in ((1, ONE_UNPINNED, (32,)), (2, TWO_WORKERS, (1, 32))):
            with serve_service(
                "projects", projects_env(settings, "postgres", redis_url, processes)
            ) as served:
                rows += endpoint_rows(
                    served, database, "postgres", [(Load(name), concurrencies)], token, processes
                )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| what | plane | concurrency | req/s | p50 ms | p99 ms | CPU ms/request"
        " | Postgres CPU ms/request | limiter fallbacks |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cpu, database_cpu = (
            "—" if ms is None else f"{ms:.2f}" for ms in (row.cpu_ms, row.db_cpu_ms)
        )
        fallbacks = "—" if row.fallbacks is None else str(row.fallbacks)
        lines.append(
            f"| {row.name} | {row.plane} | {row.concurrency} | {row.per_second:,.0f}"
            f" | {row.p50_ms:.2f} | {row.p99_ms:.1f} | {cpu} | {database_cpu} | {fallbacks} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> str:
    """The figures issue 14 sets targets for (the postgres plane unless named), each against
    its target; and what a second worker process buys."""

    def row(name: str, concurrency: int = 32, plane: str = "postgres") -> Row:
        return next(
            r for r in rows if r.name == name and r.plane == plane and r.concurrency == concurrency
        )

    listing, floor = row(LIST), row(FLOOR)
    checks = [
        ("GET /projects ÷ the plane's bare query, req/s at c=32", listing, floor, "≥", 0.6),
        ("a later page (no cache) ÷ the same", row(LATER_PAGE), floor, "≥", 0.6),
        (
            "GET /projects, postgres ÷ postgrest plane, req/s at c=32",
            listing,
            row(LIST, plane="postgrest"),
            "≥",
            3,
        ),
    ]
    lines = []
    for what, measured, against, sign, target in checks:
        ratio = measured.per_second / against.per_second
        lines.append(
            f"- {what}: **{ratio:.2f}** (target {sign} {target}) {'✓' if ratio >= target else '✗'}"
        )
    p99 = row(LIST, concurrency=1).p99_ms
    cpu = listing.cpu_ms or 0.0
    lines += [
        f"- GET /projects p99 at c=1: **{p99:.1f} ms** (target ≤ 15 ms)"
        f" {'✓' if p99 <= 15 else '✗'}",
        f"- server CPU per GET /projects at c=32: **{cpu:.2f} ms** (target ≤ 1.2 ms)"
        f" {'✓' if cpu <= 1.2 else '✗'}",
        "- GET /projects with WEB_CONCURRENCY=2 ÷ 1 (both unpinned), req/s at c=32:"
        f" **{row(TWO_WORKERS).per_second / row(ONE_UNPINNED).per_second:.2f}**",
    ]
    return "\n".join(lines)


def median_rows(rounds: list[list[Row]]) -> list[Row]:
    """Each row's median over the rounds, figure by figure (the fallbacks: their sum)."""
    merged = []
    for same in zip(*rounds, strict=True):
        first = same[0]
        merged.append(
            Row(
                first.name,
                first.plane,
                first.concurrency,
                per_second=statistics.median(row.per_second for row in same),
                p50_ms=statistics.median(row.p50_ms for row in same),
                p99_ms=statistics.median(row.p99_ms for row in same),
                cpu_ms=None
                if first.cpu_ms is None
                else statistics.median(row.cpu_ms or 0.0 for row in same),
                db_cpu_ms=None
                if first.db_cpu_ms is None
                else statistics.median(row.db_cpu_ms or 0.0 for row in same),
                fallbacks=None
                if first.fallbacks is None
                else sum(row.fallbacks or 0 for row in same),
            )
        )
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.endpoints")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat everything; print each figure's median"
    )
    rounds = parser.parse_args().rounds
    # Whatever else runs on the machine takes from the same two cores: say how busy it was.
    load_before = os.getloadavg()[0]
    rows = median_rows([measure_all() for _ in range(rounds)])
    print(
        "The projects service as deployed (`sajtmaskin serve projects`: uvicorn, uvloop +"
        f" httptools, 1 process pinned to core {SERVER_CPUS}; LOG_LEVEL={LOG_LEVEL}; rate"
        f" limiting on, RATE_LIMITS={ROOMY_LIMITS}) under wrk (1 thread on core {LOAD_CPUS},"
        f" {WARM_UP_S} s warm-up, {RUN_S} s timed); {USERS} users of {SITES_PER_USER} saved"
        " sites each, one user's token (saves: each user's in turn). Floor rows: this process,"
        f" pinned to core {SERVER_CPUS}, on uvloop, in a tight loop. CPU per request: the"
        " server's user and system time (all its processes), for the floor rows this process's;"
        " Postgres's: its backends serving the bench's database."
        " Load average (1 min)"
        f" before the run {load_before:.2f}, after it {os.getloadavg()[0]:.2f}."
        + (f" Each figure the median of {rounds} rounds.\n" if rounds > 1 else "\n")
    )
    print(table(rows))
    print("\nRatios (the targets of issue 14):\n")
    print(ratios(rows))


if __name__ == "__main__":
    main()
