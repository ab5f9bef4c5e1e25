"""Timing helpers shared by the benchmarks: run an async operation at a given concurrency and
report latency percentiles and throughput."""

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import msgspec


class Figures(msgspec.Struct, frozen=True):
    name: str
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    per_second: float
    cpu_ms: float | None = None
    """This process's CPU time per operation (all its threads), where `measure` timed it."""


async def measure(
    name: str, operation: Callable[[], Awaitable[object]], *, concurrency: int, requests: int
) -> Figures:
    """Run `operation` `requests` times with `concurrency` in flight; warm up first."""
    for _ in range(min(20, requests)):
        await operation()
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - started)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ordered = sorted(latencies)
    return Figures(
        name=name,
        concurrency=concurrency,
        requests=len(ordered),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        per_second=len(ordered) / elapsed,
        cpu_ms=cpu * 1000 / len(ordered),
    )


def table(rows: list[Figures], baseline: dict[int, Figures]) -> str:
    """A Markdown table; `x floor` is each row's p50 over the baseline's at that concurrency."""
    lines = [
        "| path | concurrency | p50 ms | p99 ms | req/s | x floor (p50) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row.p50_ms / baseline[row.concurrency].p50_ms
        lines.append(
            f"| {row.name} | {row.concurrency} | {row.p50_ms:.2f} | {row.p99_ms:.2f} "
            f"| {row.per_second:,.0f} | {ratio:.1f} |"
        )
    return "\n".join(lines)
