"""Data planes: the same row-level-secured list of a user's 10 newest app projects, through

- the `postgrest` plane (supabase-py's client → real PostgREST 12 → Postgres),
- the `postgres` plane (one pipelined transaction that takes on the caller, then the query),
- a bare psycopg query with no RLS context: the floor both are compared with,

at concurrency 1 and 32; then the same list through the projects service's real endpoint
(HTTP, JWT, JSON) on each plane. Everything runs on this machine, in a database of its own.
"""

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from bench.measure import Figures, measure, table
from bench.servers import postgres_server_url
from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from shared.data.query import Select, desc
from shared.identity import Caller
from shared.local_stack import PostgrestServer, free_port
from shared.migrations import migrate

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
def bench_database(server_url: str) -> Iterator[str]:
    name = f"sajtmaskin_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        url = make_conninfo(server_url, dbname=name)
        migrate(url)
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
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def user_token(secret: str, user_id: str) -> str:
    now = int(time.time())
    claims = {"role": "authenticated", "aud": "authenticated", "sub": user_id}
    return jwt.encode({**claims, "iat": now, "exp": now + 3600}, secret, "HS256")


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


@contextmanager
def projects_service(settings: Settings, plane: str) -> Iterator[str]:
    """`sajtmaskin serve projects` on a free port, configured for `plane`."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATA_PLANE": plane,
        "DATABASE_URL": settings.database_url or "",
        "SUPABASE_REST_URL": settings.supabase_rest_url or "",
        "SUPABASE_ANON_KEY": settings.supabase_anon_key or "",
        "JWT_SECRET": settings.jwt_secret or "",
        "LOG_LEVEL": "warning",
        # Thousands of requests from one caller: measure the data path, not the read limit.
        "RATE_LIMIT_ENABLED": "false",
    }
    command = [
        str(Path(sys.executable).parent / "sajtmaskin"),
        "serve",
        "projects",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the projects service on the {plane} plane did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def endpoint_figures(url: str, plane: str, token: str) -> list[Figures]:
    # Idle connections are dropped well before uvicorn's 5 s keep-alive closes them: reusing one
    # the server is closing at that moment fails the request (ReadError) instead of timing it.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    headers = {"Authorization": f"Bearer {token}"}
    figures = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as http:

        async def list_projects() -> None:
            response = await http.get("/projects")
            response.raise_for_status()

        for concurrency, requests in RUNS.items():
            figures.append(
                await measure(
                    f"GET /projects, {plane} plane",
                    list_projects,
                    concurrency=concurrency,
                    requests=requests,
                )
            )
    return figures


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    with (
        bench_database(server_url) as database_url,
        PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest,
    ):
        with psycopg.connect(database_url) as conn:
            row = conn.execute("select id from public.users limit 1").fetchone()
        assert row is not None
        user_id = str(row[0])
        token = user_token(secret, user_id)
        anon_key = jwt.encode({"role": "anon", "iat": int(time.time())}, secret, "HS256")
        settings = Settings(
            database_url=make_conninfo(database_url, user="authenticator"),
            supabase_rest_url=postgrest.url,
            supabase_anon_key=anon_key,
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
            with projects_service(settings, plane) as url:
                figures += asyncio.run(endpoint_figures(url, plane, token))
    baseline = {row.concurrency: row for row in figures if "floor" in row.name}
    print(f"Listing a user's 10 newest of {SITES_PER_USER} app projects ({USERS} users):\n")
    print(table(figures, baseline))


if __name__ == "__main__":
    main()
