"""Media uploads: what the media service costs on top of writing the bytes.

`POST /media/uploads` of 4 MB PDFs (multipart, read as it streams and counted against the limit,
sniffed, stored, recorded by one SQL call as the user) through `sajtmaskin serve media` as a
subprocess on the postgres plane, at concurrency 1 and 32, in MB/s of file bytes; and the
service process's peak memory (VmHWM from /proc, its peak reset just before) during the 32-way
run. The floor is the same bytes written to the same backend directly with its Storage (`put`,
as the service role), at the same concurrency. Two backends: the local directory (MEDIA_DIR, on
this machine's disk) and Supabase Storage's in-repo stand-in (served in this process, over the
same database: its own cost is in both the service's figures and the floor).

PDFs, because images and videos have quotas (10 and 3 per user) and PDFs none; uploads are
spread over USERS users in a database of its own.
"""

import asyncio
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx
import jwt
import msgspec
import psycopg
from psycopg.conninfo import make_conninfo

from bench.servers import (
    bench_database,
    postgres_server_url,
    redis_server_url,
    serve_service,
    user_token,
)
from services.media.storage import open_storage
from shared.config import Settings
from standins.http_server import serve_http
from standins.storage import StorageStandIn

FILE_BYTES = 4_000_000
USERS = 32
RUNS = {1: 20, 32: 128}  # concurrency → uploads
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * (FILE_BYTES - 24) + b"\n%%EOF\n"


class Row(msgspec.Struct, frozen=True):
    backend: str
    path: str
    concurrency: int
    uploads: int
    mb_per_s: float
    p50_ms: float
    peak_rss_mb: float | None = None
    rss_before_mb: float | None = None


@contextmanager
def media_database(server_url: str) -> Iterator[tuple[str, list[str]]]:
    """A database of its own with USERS verified users; its URL and their ids."""
    with bench_database(server_url) as url:
        with psycopg.connect(url) as conn:
            users = [
                str(row[0])
                for row in conn.execute(
                    "insert into public.users (id, email, email_verified)"
                    " select gen_random_uuid(), 'media' || n || '@example.com', true"
                    " from generate_series(1, %s) as n returning id",
                    (USERS,),
                )
            ]
        yield url, users


def status_mb(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: now), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def reset_peak(pid: int) -> None:
    """Start the process's peak RSS afresh (Linux: 5 → clear_refs resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def timed(
    operation: Callable[[], Awaitable[None]], concurrency: int, runs: int
) -> tuple[float, float]:
    """(MB/s of file bytes, p50 ms) of `operation()` run `runs` times, `concurrency` at once."""
    latencies: list[float] = []
    remaining = runs

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return runs * FILE_BYTES / elapsed / 1e6, latencies[len(latencies) // 2] * 1000


async def service_rows(backend: str, url: str, pid: int, tokens: list[str]) -> list[Row]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    rows = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        turn = iter(range(10**9))

        async def upload() -> None:
            run = next(turn)
            response = await http.post(
                "/media/uploads",
                files={"file": (f"menu-{run}.pdf", PDF, "application/pdf")},
                headers={"Authorization": f"Bearer {tokens[run % len(tokens)]}"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"upload answered {response.status_code}: {response.text}")

        for _ in range(3):
            await upload()
        for concurrency, runs in RUNS.items():
            before = None
            if concurrency > 1:
                reset_peak(pid)
                before = status_mb(pid, "VmRSS")
            mb_per_s, p50 = await timed(upload, concurrency, runs)
            peak = status_mb(pid, "VmHWM") if concurrency > 1 else None
            rows.append(
                Row(backend, "POST /media/uploads", concurrency, runs, mb_per_s, p50, peak, before)
            )
    return rows


async def floor_rows(backend: str, settings: Settings, users: list[str]) -> list[Row]:
    rows = []
    async with httpx.AsyncClient(timeout=120) as http:
        storage = open_storage(settings, http)
        turn = iter(range(10**9))

        async def put() -> None:
            run = next(turn)
            path = f"{users[run % len(users)]}/documents/{run}_{secrets.token_hex(6)}.pdf"
            await storage.put(path, PDF, "application/pdf", None)

        for concurrency, runs in RUNS.items():
            mb_per_s, p50 = await timed(put, concurrency, runs)
            rows.append(Row(backend, "floor: Storage.put", concurrency, runs, mb_per_s, p50))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| backend | path | concurrency | uploads | MB/s | p50 ms | floor ÷ it (MB/s) "
        "| RSS before → peak MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    floors = {(row.backend, row.concurrency): row for row in rows if row.path.startswith("floor")}
    for row in rows:
        ratio = floors[(row.backend, row.concurrency)].mb_per_s / row.mb_per_s
        peak = (
            f"{row.rss_before_mb:.0f} → {row.peak_rss_mb:.0f}"
            if row.peak_rss_mb is not None and row.rss_before_mb is not None
            else ""
        )
        lines.append(
            f"| {row.backend} | {row.path} | {row.concurrency} | {row.uploads} "
            f"| {row.mb_per_s:.1f} | {row.p50_ms:.0f} | {ratio:.2f} | {peak} |"
        )
    return "\n".join(lines)


def main() -> None:
    server_url = postgres_server_url()
    secret = secrets.token_urlsafe(32)
    service_key = jwt.encode({"role": "service_role", "iss": "supabase"}, secret, "HS256")
    anon_key = jwt.encode({"role": "anon", "iss": "supabase"}, secret, "HS256")
    rows: list[Row] = []
    with (
        redis_server_url() as redis_url,
        media_database(server_url) as (database_url, users),
        tempfile.TemporaryDirectory(prefix="sajtmaskin-bench-media-") as scratch,
    ):
        tokens = [user_token(secret, user) for user in users]
        for backend in ("local", "supabase"):
            root = Path(scratch) / backend
            root.mkdir()
            standin = (
                serve_http(StorageStandIn(database_url, secret, root / "standin"))
                if backend == "supabase"
                else nullcontext(None)
            )
            with standin as standin_url:
                store = (
                    {"SUPABASE_STORAGE_URL": f"{standin_url}/storage/v1"}
                    if standin_url
                    else {"MEDIA_DIR": str(root / "service")}
                )
                env = {
                    "DATA_PLANE": "postgres",
                    "DATABASE_URL": make_conninfo(database_url, user="authenticator"),
                    "SUPABASE_ANON_KEY": anon_key,
                    "SUPABASE_SERVICE_ROLE_KEY": service_key,
                    "JWT_SECRET": secret,
                    "REDIS_URL": redis_url,
                    "REDIS_KEY_PREFIX": f"bench-{uuid.uuid4()}:",
                    "LOG_LEVEL": "warning",
                    "RATE_LIMIT_ENABLED": "false",
                    **store,
                }
                with serve_service("media", env) as service:
                    rows += asyncio.run(service_rows(backend, service.url, service.pid, tokens))
                settings = Settings(
                    supabase_anon_key=anon_key,
                    supabase_service_role_key=service_key,
                    jwt_secret=secret,
                    supabase_storage_url=store.get("SUPABASE_STORAGE_URL"),
                    media_dir=str(root / "floor"),
                )
                rows += asyncio.run(floor_rows(backend, settings, users))
    print(
        f"Uploads of {FILE_BYTES / 1e6:.0f} MB PDFs through the media service (postgres plane),"
        " beside writing the same bytes to the backend directly; peak RSS of the service"
        " during the 32-way run:\n"
    )
    print(table(sorted(rows, key=lambda row: (row.backend, row.path.startswith("floor")))))


if __name__ == "__main__":
    main()
