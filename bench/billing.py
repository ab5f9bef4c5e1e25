"""Billing: charges per second through `charge_credits` (price look-up, row lock, idempotency check,
conditional update and ledger row in one transaction, as the caller under row-level security) on
each data plane, against a floor of a bare `update … returning` that only takes the diamonds,

- on one hot user, whose row every charge locks in turn, and
- spread over 1,000 users, one after another,

at concurrency 1 and 32, pools of 10 connections on every path, in a database of its own. The
charges are the call the billing service makes for `POST /billing/charges`, without the HTTP in
front (what that adds is in the data-plane figures of `GET /projects`).
"""

import asyncio
import itertools
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx
import jwt
import msgspec
import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from bench.measure import Figures, measure, table
from bench.servers import bench_database, postgres_server_url, user_token
from shared.config import Settings
from shared.data.plane import DataPlane, open_data_plane
from shared.data.query import Rpc
from shared.identity import Caller
from shared.local_stack import PostgrestServer

USERS = 1000
DIAMONDS = 100_000_000  # each user's balance: never short, whatever the run takes
COST = 10  # a standard generation's price, what the floor takes too
POOL_SIZE = 10  # as PostgREST's pool in PostgrestServer
RUNS = {1: 300, 32: 2000}  # concurrency → charges
Operation = Callable[[], Awaitable[object]]
FLOOR = (
    "update public.users set diamonds = diamonds - %s where id = %s and diamonds >= %s"
    " returning diamonds"
)


@contextmanager
def charges_database(server_url: str) -> Iterator[tuple[str, list[str]]]:
    """A database of its own with `USERS` users, each holding `DIAMONDS` on the ledger; its URL
    and the users' ids."""
    with bench_database(server_url) as url:
        with psycopg.connect(url) as conn:
            ids = [
                str(row[0])
                for row in conn.execute(
                    "insert into public.users (email, email_verified)"
                    " select 'bench' || n || '@example.com', true"
                    " from generate_series(1, %s) as n returning id",
                    (USERS,),
                ).fetchall()
            ]
            conn.execute(
                "select public.credit_diamonds(id, %s, 'admin_grant', 'Bench', 'bench')"
                " from public.users",
                (DIAMONDS,),
            )
        yield url, ids


def user_caller(secret: str, user_id: str) -> Caller:
    claims = {"role": "authenticated", "aud": "authenticated", "sub": user_id}
    return Caller(role="authenticated", claims=claims, token=user_token(secret, user_id))


async def runs(name: str, operation: Operation) -> list[Figures]:
    return [
        await measure(name, operation, concurrency=concurrency, requests=requests)
        for concurrency, requests in RUNS.items()
    ]


def bare_update(pool: AsyncConnectionPool, turns: Iterator[Caller]) -> Operation:
    """The floor: take the diamonds of the next user in `turns`, nothing else."""

    async def take() -> None:
        user_id = next(turns).claims["sub"]
        async with pool.connection() as conn:
            await (await conn.execute(FLOOR, (COST, user_id, COST))).fetchone()

    return take


def charging(plane: DataPlane, turns: Iterator[Caller]) -> Operation:
    """A standard generation charged to the next user in `turns`, as that user, a new key each."""

    async def charge() -> None:
        arguments = {
            "p_action": "generate",
            "p_model_tier": "standard",
            "p_idempotency_key": uuid.uuid4().hex,
        }
        await plane.run(next(turns), Rpc("charge_credits", arguments))

    return charge


async def charge_figures(
    settings: Settings, floor_url: str, callers: list[Caller]
) -> dict[str, list[Figures]]:
    """Figures per workload ("hot", "spread"): the floor, then each plane."""
    workloads: dict[str, Callable[[], Iterator[Caller]]] = {
        "hot": lambda: itertools.repeat(callers[0]),
        "spread": lambda: itertools.cycle(callers),
    }
    figures: dict[str, list[Figures]] = {workload: [] for workload in workloads}
    async with AsyncConnectionPool(floor_url, min_size=POOL_SIZE, max_size=POOL_SIZE) as pool:
        for workload, turns in workloads.items():
            figures[workload] += await runs(
                "bare update … returning, no RLS (floor)", bare_update(pool, turns())
            )

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        for plane_name in ("postgrest", "postgres"):
            plane = await open_data_plane(
                msgspec.structs.replace(settings, data_plane=plane_name), http
            )
            try:
                for workload, turns in workloads.items():
                    figures[workload] += await runs(
                        f"charge_credits, {plane_name} plane", charging(plane, turns())
                    )
            finally:
                await plane.close()
    return figures


def ratios(rows: list[Figures]) -> str:
    """Each row's charges per second as a share of the floor's at the same concurrency."""
    floors = {row.concurrency: row for row in rows if "floor" in row.name}
    return "\n".join(
        f"- {row.name}, concurrency {row.concurrency}: "
        f"{row.per_second / floors[row.concurrency].per_second:.2f}x the floor's charges per second"
        for row in rows
        if "floor" not in row.name
    )


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    with (
        charges_database(server_url) as (database_url, user_ids),
        PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest,
    ):
        anon_key = jwt.encode({"role": "anon", "iat": int(time.time())}, secret, "HS256")
        settings = Settings(
            database_url=make_conninfo(database_url, user="authenticator"),
            supabase_rest_url=postgrest.url,
            supabase_anon_key=anon_key,
            jwt_secret=secret,
            db_pool_size=POOL_SIZE,
            http_timeout_s=30,
        )
        callers = [user_caller(secret, user_id) for user_id in user_ids]
        figures = asyncio.run(charge_figures(settings, database_url, callers))
    titles = {
        "hot": "\nCharges on one hot user (every charge locks the same row):\n",
        "spread": f"\nCharges spread over {USERS} users:\n",
    }
    for workload, rows in figures.items():
        print(titles[workload])
        print(table(rows, {row.concurrency: row for row in rows if "floor" in row.name}))
        print()
        print(ratios(rows))


if __name__ == "__main__":
    main()
