"""What the benchmarks run against, taken from the environment like every other command.

- Postgres: the server of `DATABASE_URL`, default the local one at 127.0.0.1:5432 as
  `postgres`; each benchmark creates a database of its own there and drops it afterwards.
- Redis: `REDIS_URL` (or `KV_URL`), written under a key prefix of the run's own; unset, an
  embedded Valkey started for the run, so nobody's Redis is written to unasked.

And how a benchmark starts what it measures: a migrated database of its own (`bench_database`),
a service as it is deployed (`serve_service`, `sajtmaskin serve <service>` in its own process),
and the tokens its callers present (`access_token`).
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from shared.config import load_settings
from shared.local_stack import EmbeddedValkey, free_port
from shared.migrations import migrate

SERVICE_START_TIMEOUT_S = 20.0

LOCAL_POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_server_url() -> str:
    """The Postgres server the benchmarks create their databases on."""
    return load_settings().database_url or LOCAL_POSTGRES_SERVER


@contextmanager
def redis_server_url() -> Iterator[str]:
    """The Redis to measure, for the duration of the block."""
    configured = load_settings().redis_url
    if configured:
        yield configured
        return
    with (
        tempfile.TemporaryDirectory(prefix="sajtmaskin-bench-") as scratch,
        EmbeddedValkey(Path(scratch) / "valkey") as valkey,
    ):
        yield valkey.url


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A migrated database of its own on `server_url`, dropped afterwards; its URL."""
    name = f"sajtmaskin_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        url = make_conninfo(server_url, dbname=name)
        migrate(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class Served:
    """A service process the benchmark started."""

    url: str
    pid: int


@contextmanager
def serve_service(
    service: str, env: Mapping[str, str], *, cpus: str | None = None
) -> Iterator[Served]:
    """`sajtmaskin serve <service>` on a free port, configured by `env` alone (and PATH), once
    it answers /ready; stopped afterwards. With `cpus` (taskset's list, e.g. "0") it runs, and
    so do its workers, on those CPUs only."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "sajtmaskin"), "serve", service, "--port"]
    if cpus is not None:
        # taskset execs the command: the pid stays the server's own.
        command = ["taskset", "--cpu-list", cpus, *command]
    process = subprocess.Popen(  # noqa: S603
        [*command, str(port)],
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the {service} service did not start")
            time.sleep(0.1)
        yield Served(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def access_token(secret: str, claims: Mapping[str, str]) -> str:
    """An HS256 token with `claims`, valid for an hour, as auth (or Supabase) signs them."""
    now = int(time.time())
    return jwt.encode({**claims, "iat": now, "exp": now + 3600}, secret, "HS256")


def user_token(secret: str, user_id: str) -> str:
    """A signed-in user's access token."""
    return access_token(secret, {"role": "authenticated", "aud": "authenticated", "sub": user_id})
