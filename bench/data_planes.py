"""Data planes: the same row-level-secured list of a user's 10 newest app projects, through

- the `postgrest` plane (supabase-py's client → real PostgREST 12 → Postgres),
- the `postgres` plane (one pipelined transaction that takes on the caller, then the query),
- a bare psycopg query with no RLS context: the floor both are compared with,

at concurrency 1 and 32; then the projects service's real endpoints (HTTP, JWT, JSON, its
Redis caches) on each plane: the list, one site with its saved work, and a save of 5 files
(50 KB). Everything runs on this machine, in a database of its own.
"""

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import msgspec
import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from bench.measure import Figures, measure, table
from bench.servers import (
    access_token,
    bench_database,
    postgres_server_url,
    redis_server_url,
    serve_service,
    user_token,
)
from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from shared.data.query import Select, desc
from shared.identity import Caller
from shared.local_stack import PostgrestServer

USERS = 100
SITES_PER_USER = 20
POOL_SIZE = 10  # the same as PostgREST's pool in PostgrestServer
RUNS = {1: 1000, 32: 4000}  # concurrency → requests
ENDPOINT_RUNS = {1: 300, 32: 1200}  # the service is ~10x slower than a query: fewer requests
SAVED_FILES = 5
FILE_BYTES = 10_000  # 5 files of 10 KB: a 50 KB save
LIST = Select(
    "app_projects",
    columns=("id", "name", "category", "created_at"),
    order=(desc("created_at"),),
    limit=10,
)
FLOOR_QUERY = (
    "select id, name, category, created_at from public.app_projects"
    " where user_id = %s order by created_at desc limit 10"
)


@contextmanager
def sites_database(server_url: str) -> Iterator[str]:
    """A database of its own with USERS users of SITES_PER_USER app projects each."""
    with bench_database(server_url) as url:
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into public.users (id, email)"
                " select gen_random_uuid(), 'bench' || n || '@example.com'"
                " from generate_series(1, %s) as n",
                (USERS,),
            )
            conn.execute(
                "insert into public.app_projects (user_id, name, category, created_at)"
                " select u.id, 'Site ' || n, 'bench', now() - n * interval '1 minute'"
                " from public.users as u, generate_series(1, %s) as n",
                (SITES_PER_USER,),
            )
        yield url


async def plane_figures(
    settings: Settings, caller: Caller, floor_url: str, user_id: str
) -> list[Figures]:
    figures: list[Figures] = []
    async with AsyncConnectionPool(floor_url, min_size=POOL_SIZE, max_size=POOL_SIZE) as pool:

        async def floor() -> None:
            async with pool.connection() as conn:
                await (await conn.execute(FLOOR_QUERY, (user_id,))).fetchall()

        for concurrency, requests in RUNS.items():
            figures.append(
                await measure(
                    "bare psycopg, no RLS (floor)",
                    floor,
                    concurrency=concurrency,
                    requests=requests,
                )
            )

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        for plane_name in ("postgrest", "postgres"):
            plane = await open_data_plane(
                msgspec.structs.replace(settings, data_plane=plane_name), http
            )

            async def list_sites(plane: DataPlane = plane) -> None:
                await plane.run(caller, LIST)

            try:
                for concurrency, requests in RUNS.items():
                    figures.append(
                        await measure(
                            f"{plane_name} plane",
                            list_sites,
                            concurrency=concurrency,
                            requests=requests,
                        )
                    )
            finally:
                await plane.close()
    return figures


def projects_env(settings: Settings, plane: str, redis_url: str) -> dict[str, str]:
    """`sajtmaskin serve projects` configured for `plane`."""
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
        "LOG_LEVEL": "warning",
        # Thousands of requests from one caller: measure the data path, not the read limit.
        "RATE_LIMIT_ENABLED": "false",
    }


def save_body(run: int) -> dict[str, object]:
    """A save of SAVED_FILES files of FILE_BYTES each, different every run."""
    files = [
        {"name": f"app/section-{n}.tsx", "content": f"// run {run}\n".ljust(FILE_BYTES, "x")}
        for n in range(SAVED_FILES)
    ]
    return {"demoUrl": f"https://demo-{run}.vusercontent.net", "files": files, "meta": {"run": run}}


async def endpoint_figures(url: str, plane: str, token: str, site_ids: list[str]) -> list[Figures]:
    # Idle connections are dropped well before uvicorn's 5 s keep-alive closes them: reusing one
    # the server is closing at that moment fails the request (ReadError) instead of timing it.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    headers = {"Authorization": f"Bearer {token}"}
    figures = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as http:
        runs = iter(range(10**9))

        async def list_projects() -> None:
            response = await http.get("/projects")
            response.raise_for_status()

        async def get_site() -> None:
            response = await http.get(f"/projects/{site_ids[0]}")
            response.raise_for_status()

        async def save_site() -> None:
            # Spread over the user's sites: a save locks its site's row until it commits.
            run = next(runs)
            site = site_ids[run % len(site_ids)]
            response = await http.put(f"/projects/{site}/data", json=save_body(run))
            response.raise_for_status()

        await save_site()  # the site read below has saved work to return
        for name, operation in (
            ("GET /projects", list_projects),
            ("GET /projects/{id}", get_site),
            ("PUT /projects/{id}/data", save_site),
        ):
            for concurrency, requests in ENDPOINT_RUNS.items():
                figures.append(
                    await measure(
                        f"{name}, {plane} plane",
                        operation,
                        concurrency=concurrency,
                        requests=requests,
                    )
                )
    return figures


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    with (
        redis_server_url() as redis_url,
        sites_database(server_url) as database_url,
        PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest,
    ):
        with psycopg.connect(database_url) as conn:
            row = conn.execute("select id from public.users limit 1").fetchone()
            assert row is not None
            user_id = str(row[0])
            site_ids = [
                str(site)
                for (site,) in conn.execute(
                    "select id from public.app_projects where user_id = %s"
                    " order by created_at desc",
                    (user_id,),
                )
            ]
        token = user_token(secret, user_id)
        anon_key = access_token(secret, {"role": "anon"})
        settings = Settings(
            database_url=make_conninfo(database_url, user="authenticator"),
            supabase_rest_url=postgrest.url,
            supabase_anon_key=anon_key,
            supabase_service_role_key=access_token(secret, {"role": "service_role"}),
            jwt_secret=secret,
            db_pool_size=POOL_SIZE,
        )
        caller = Caller(
            role="authenticated",
            claims={"role": "authenticated", "aud": "authenticated", "sub": user_id},
            token=token,
        )
        figures = asyncio.run(plane_figures(settings, caller, database_url, user_id))
        for plane in ("postgrest", "postgres"):
            with serve_service("projects", projects_env(settings, plane, redis_url)) as served:
                figures += asyncio.run(endpoint_figures(served.url, plane, token, site_ids))
    baseline = {row.concurrency: row for row in figures if "floor" in row.name}
    print(
        f"Listing a user's 10 newest of {SITES_PER_USER} app projects ({USERS} users),"
        f" then the projects service reading and saving sites:\n"
    )
    print(table(figures, baseline))


if __name__ == "__main__":
    main()
