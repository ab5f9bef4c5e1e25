"""The local stack: embedded Postgres and Valkey keep their data and have one owner at a time;
the dev stack seeds a new database once, signs local keys and serves links on its own port."""

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest
import redis
from psycopg.conninfo import make_conninfo

from shared.config import Settings
from shared.local_stack import (
    EmbeddedPostgres,
    EmbeddedValkey,
    LocalStackError,
    open_dev_stack,
    seed_demo_logins,
)
from tests.conftest import JWT_SECRET, database_on_server, drop_database
from tests.fakes.redis_fixtures import REDIS_URL

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

    # the same settings, but for the ports the stand-ins of v0 and Vercel happened to get
    def kept(stack_settings: Settings) -> dict[str, object]:
        served_anew = ("v0_api_url", "vercel_api_url")
        return {
            name: value
            for name, value in msgspec.structs.asdict(stack_settings).items()
            if name not in served_anew
        }

    assert first.settings.jwt_secret
    keys = ("jwt_secret", "supabase_anon_key", "supabase_service_role_key")
    assert kept(first.settings) == kept(second.settings)
    assert all(getattr(second.settings, key) for key in keys)


def test_a_new_embedded_database_gets_the_seed_once(tmp_path: Path) -> None:
    # given a first start on a fresh state directory, and a demo user renamed afterwards
    settings = Settings(state_dir=str(tmp_path))
    with open_dev_stack(settings, data_plane="postgres") as first:
        renamed = first.demo_logins[0].email
        _as_owner(
            first.settings.database_url,
            "update public.users set name = 'Renamed' where email = %s",
            renamed,
        )

    # when the stack starts again on the same state
    with open_dev_stack(settings, data_plane="postgres") as second:
        names = _as_owner(
            second.settings.database_url, "select name from public.users where email = %s", renamed
        )

    # then the seed's users were there from the first start, and the seed was not loaded again
    assert first.demo_logins == second.demo_logins == seed_demo_logins()
    assert names == [("Renamed",)]


def test_mailed_links_follow_the_gateway_port_unless_public_base_url_is_set(
    configured: Settings,
) -> None:
    behind_proxy = msgspec.structs.replace(configured, public_base_url="https://api.example.test")

    with open_dev_stack(configured, data_plane="postgres", gateway_port=8100) as on_port:
        pass
    with open_dev_stack(behind_proxy, data_plane="postgres", gateway_port=8100) as proxied:
        pass

    assert on_port.settings.public_base_url == "http://127.0.0.1:8100"
    assert proxied.settings.public_base_url == "https://api.example.test"


def test_a_configured_database_missing_on_this_machine_is_created_without_the_seed(
    configured: Settings,
) -> None:
    with open_dev_stack(configured, data_plane="postgres") as stack:
        users = _as_owner(stack.settings.database_url, "select count(*) from public.users")

    assert users == [(0,)]
    assert stack.demo_logins == ()


def test_keys_the_environment_provides_are_neither_replaced_nor_printed(
    configured: Settings,
) -> None:
    settings = msgspec.structs.replace(configured, supabase_anon_key="configured-anon-key")

    with open_dev_stack(settings, data_plane="postgres") as stack:
        pass

    assert stack.settings.supabase_anon_key == "configured-anon-key"
    assert list(stack.local_keys) == ["service_role"]
    assert stack.settings.supabase_service_role_key == stack.local_keys["service_role"]


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Settings]:
    """Dev settings naming a database the test server does not have yet, and the test Redis."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    yield Settings(
        state_dir=str(tmp_path),
        database_url=database_on_server(name),
        redis_url=REDIS_URL,
        jwt_secret=JWT_SECRET,
    )
    drop_database(name)


def _as_owner(
    database_url: str | None, statement: str, *params: object
) -> list[tuple[object, ...]]:
    assert database_url is not None
    with psycopg.connect(make_conninfo(database_url, user="postgres"), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []
