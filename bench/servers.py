"""What the benchmarks run against, taken from the environment like every other command.

- Postgres: the server of `DATABASE_URL`, default the local one at 127.0.0.1:5432 as
  `postgres`; each benchmark creates a database of its own there and drops it afterwards.
- Redis: `REDIS_URL` (or `KV_URL`), written under a key prefix of the run's own; unset, an
  embedded Valkey started for the run, so nobody's Redis is written to unasked.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.config import load_settings
from shared.local_stack import EmbeddedValkey

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
