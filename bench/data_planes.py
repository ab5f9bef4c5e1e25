"""Data planes: the same row-level-secured list of a user's 10 newest app projects, through

- the `postgrest` plane (supabase-py's client → real PostgREST 12 → Postgres),
- the `postgres` plane (one pipelined transaction that takes on the caller, then the query),
- a bare psycopg query with no RLS context: the floor both are compared with,

at concurrency 1 and 32. Everything runs on this machine, in a database of its own. The projects
service's endpoints on each plane, served as in production, are `bench.endpoints`.
"""

import asyncio
import secrets
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


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    with (
        sites_database(server_url) as database_url,
        PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest,
    ):
        with psycopg.connect(database_url) as conn:
            row = conn.execute("select id from public.users limit 1").fetchone()
            assert row is not None
            user_id = str(row[0])
        token = user_token(secret, user_id)
        settings = Settings(
            database_url=make_conninfo(database_url, user="authenticator"),
            supabase_rest_url=postgrest.url,
            supabase_anon_key=access_token(secret, {"role": "anon"}),
            jwt_secret=secret,
            db_pool_size=POOL_SIZE,
        )
        caller = Caller(
            role="authenticated",
            claims={"role": "authenticated", "aud": "authenticated", "sub": user_id},
            token=token,
        )
        figures = asyncio.run(plane_figures(settings, caller, database_url, user_id))
    baseline = {row.concurrency: row for row in figures if "floor" in row.name}
    print(f"Listing a user's 10 newest of {SITES_PER_USER} app projects ({USERS} users):\n")
    print(table(figures, baseline))


if __name__ == "__main__":
    main()
