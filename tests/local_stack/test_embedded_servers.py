"""Embedded Postgres and Valkey keep their data across restarts and have one owner at a time."""

import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import psycopg
import pytest
import redis

from shared.config import Settings
from shared.local_stack import EmbeddedPostgres, EmbeddedValkey, LocalStackError, open_dev_stack

REPOSITORY = Path(__file__).resolve().parents[2]


def test_embedded_postgres_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    with (
        EmbeddedPostgres(tmp_path / "postgres") as postgres,
        psycopg.connect(postgres.url(), autocommit=True) as conn,
    ):
        conn.execute("create table kept (note text)")
        conn.execute("insert into kept values ('still here')")

    with (
        EmbeddedPostgres(tmp_path / "postgres") as postgres,
        psycopg.connect(postgres.url()) as conn,
    ):
        row = conn.execute("select note from kept").fetchone()

    assert row == ("still here",)


def test_a_second_owner_of_an_embedded_cluster_is_refused(tmp_path: Path) -> None:
    with (
        EmbeddedPostgres(tmp_path / "postgres"),
        pytest.raises(LocalStackError, match="in use by another process"),
    ):
        EmbeddedPostgres(tmp_path / "postgres").start()


def test_a_cluster_left_running_by_a_killed_owner_is_taken_over(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from shared.local_stack import EmbeddedPostgres;"
            "EmbeddedPostgres(Path(sys.argv[1])).start(); print('up', flush=True); time.sleep(60)",
            str(data_dir),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
    )
    assert owner.stdout is not None
    assert owner.stdout.readline() == b"up\n"
    owner.send_signal(signal.SIGKILL)
    owner.wait()

    with EmbeddedPostgres(data_dir) as postgres, psycopg.connect(postgres.url()) as conn:
        conn.execute("select 1")

    assert not (data_dir / "postmaster.pid").exists()


def test_embedded_valkey_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    with EmbeddedValkey(tmp_path / "valkey") as valkey:
        redis.Redis.from_url(valkey.url).set("greeting", "hej")

    with EmbeddedValkey(tmp_path / "valkey") as valkey:
        kept = redis.Redis.from_url(valkey.url).get("greeting")

    assert kept == b"hej"


def test_the_dev_stack_keeps_its_jwt_secret_and_keys_across_restarts(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path))

    with open_dev_stack(settings, data_plane="postgres") as first:
        pass
    with open_dev_stack(settings, data_plane="postgres") as second:
        pass

    assert first.settings.jwt_secret
    keys = ("jwt_secret", "supabase_anon_key", "supabase_service_role_key")
    assert msgspec.structs.asdict(first.settings) == msgspec.structs.asdict(second.settings)
    assert all(getattr(second.settings, key) for key in keys)
