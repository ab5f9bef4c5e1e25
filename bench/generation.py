"""Generations: what the projects service itself adds to a paid generation, the engine's time
taken out.

`POST /projects/{id}/generate` (JWT, body, `start_generation` charging the user as the caller,
the call to v0, `finish_generation` writing the v0 mirror rows and the site's save as the
service role, cache invalidations, the answer read back as the caller) against v0's stand-in
answering every call after the same fixed ENGINE_LATENCY_S, at concurrency 1 and 32, with a
fresh idempotency key each, on each data plane (`sajtmaskin serve projects` as a subprocess, in
a database of its own, Redis as `bench.servers` gives it). The floor is the stand-in called
directly with the same latency: the engine's time alone. "Overhead p50" is a row's p50 minus
the engine latency: the service's own time per generation.

One user with plenty of diamonds (every charge locks its row, as one busy user's would)
generates over SITES sites in turn, so concurrent generations save different sites.
"""

import asyncio
import itertools
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
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
from shared.local_stack import PostgrestServer
from standins.http_server import serve_http
from standins.v0 import V0StandIn

ENGINE_LATENCY_S = 0.1
"""How long the stand-in takes to answer every call: v0's time, fixed, so what is left is ours."""
SITES = 32
DIAMONDS = 100_000_000  # never short, whatever the run takes
RUNS = {1: 100, 32: 800}  # concurrency → generations
PROMPT = "En bageriwebbplats i Malmö med surdegsbröd och öppettider"


@contextmanager
def generations_database(server_url: str) -> Iterator[tuple[str, str, list[str]]]:
    """A database of its own with one user holding DIAMONDS on the ledger and SITES sites; its
    URL, the user's id and the sites' ids."""
    with bench_database(server_url) as url:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "insert into public.users (email, email_verified)"
                " values ('bench-generations@example.com', true) returning id"
            ).fetchone()
            assert row is not None
            user_id = str(row[0])
            conn.execute(
                "select public.credit_diamonds(%s, %s, 'admin_grant', 'Bench', 'bench')",
                (user_id, DIAMONDS),
            )
            site_ids = [
                str(site)
                for (site,) in conn.execute(
                    "insert into public.app_projects (user_id, name, category)"
                    " select %s, 'Site ' || n, 'bench' from generate_series(1, %s) as n"
                    " returning id",
                    (user_id, SITES),
                ).fetchall()
            ]
        yield url, user_id, site_ids


@contextmanager
def served(v0: V0StandIn) -> Iterator[str]:
    """The stand-in over HTTP, its base URL known to it (the URLs it answers with)."""
    with serve_http(v0) as url:
        v0.base_url = url
        yield url


def http_client(base_url: str, headers: dict[str, str]) -> httpx.AsyncClient:
    # Idle connections are dropped before uvicorn's 5 s keep-alive closes them (see data_planes).
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    return httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30)


async def floor_figures(v0: V0StandIn) -> list[Figures]:
    """v0's stand-in called directly, as the service calls it: the engine's time alone."""
    body = {
        "message": PROMPT,
        "modelConfiguration": {"modelId": "v0-pro"},
        "responseMode": "sync",
    }
    headers = {"Authorization": f"Bearer {v0.api_key}"}
    async with http_client(v0.base_url, headers) as http:

        async def create_chat() -> None:
            response = await http.post("/v1/chats", json=body)
            response.raise_for_status()

        return [
            await measure(
                "v0 stand-in called directly (floor)",
                create_chat,
                concurrency=concurrency,
                requests=requests,
            )
            for concurrency, requests in RUNS.items()
        ]


async def service_figures(
    url: str, plane: str, user_token: str, site_ids: list[str]
) -> list[Figures]:
    async with http_client(url, {"Authorization": f"Bearer {user_token}"}) as http:
        turns = itertools.cycle(site_ids)

        async def generate() -> None:
            response = await http.post(
                f"/projects/{next(turns)}/generate",
                json={"prompt": PROMPT, "idempotencyKey": uuid.uuid4().hex},
            )
            if response.status_code != 201:
                raise RuntimeError(f"generate answered {response.status_code}: {response.text}")

        return [
            await measure(
                f"POST /projects/{{id}}/generate, {plane} plane",
                generate,
                concurrency=concurrency,
                requests=requests,
            )
            for concurrency, requests in RUNS.items()
        ]


def table(rows: list[Figures]) -> str:
    """A Markdown table with each row's overhead (p50 minus the engine's latency)."""
    latency_ms = ENGINE_LATENCY_S * 1000
    lines = [
        "| path | concurrency | p50 ms | p99 ms | req/s | overhead p50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.concurrency} | {row.p50_ms:.1f} | {row.p99_ms:.1f} "
            f"| {row.per_second:,.0f} | {row.p50_ms - latency_ms:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    v0 = V0StandIn(latency_s=ENGINE_LATENCY_S)
    with (
        served(v0) as v0_url,
        redis_server_url() as redis_url,
        generations_database(server_url) as (database_url, user_id, site_ids),
        PostgrestServer(
            make_conninfo(database_url, user="authenticator"), jwt_secret=secret
        ) as postgrest,
    ):
        env = {
            "DATABASE_URL": make_conninfo(database_url, user="authenticator"),
            "SUPABASE_REST_URL": postgrest.url,
            "SUPABASE_ANON_KEY": access_token(secret, {"role": "anon"}),
            "SUPABASE_SERVICE_ROLE_KEY": access_token(secret, {"role": "service_role"}),
            "JWT_SECRET": secret,
            "REDIS_URL": redis_url,
            "V0_API_KEY": v0.api_key,
            "V0_API_URL": f"{v0_url}/v1",
            "LOG_LEVEL": "warning",
            # Hundreds of generations from one user: measure the path, not the generate limit.
            "RATE_LIMIT_ENABLED": "false",
        }
        token = user_token(secret, user_id)
        figures = asyncio.run(floor_figures(v0))
        for plane in ("postgrest", "postgres"):
            plane_env = {**env, "DATA_PLANE": plane, "REDIS_KEY_PREFIX": f"bench-{uuid.uuid4()}:"}
            with serve_service("projects", plane_env) as service:
                figures += asyncio.run(service_figures(service.url, plane, token, site_ids))
    print(
        f"\nGenerating a site with v0's stand-in answering in {ENGINE_LATENCY_S * 1000:.0f} ms"
        f" (one user, {SITES} sites in turn); overhead p50 = p50 minus the engine's"
        f" {ENGINE_LATENCY_S * 1000:.0f} ms:\n"
    )
    print(table(figures))


if __name__ == "__main__":
    main()
