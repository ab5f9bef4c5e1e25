"""`migrate`, `reset` and `sajtmaskin db` against real Postgres databases."""

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from shared.migrations import (
    SUPABASE_DIR,
    MigrationError,
    UnsafeResetError,
    bootstrap_files,
    local_migrations,
    migrate,
    reset,
)
from tests.conftest import SERVER_URL, create_database, drop_database

SAJTMASKIN = Path(sys.executable).with_name("sajtmaskin")
GOOD = "create table public.notes (id int primary key, body text not null);\n"
BROKEN = (
    "-- Adds tags, then trips over a table that does not exist.\n"
    "create table public.tags (id int primary key);\n"
    "\n"
    "insert into public.missing_table (id)\n"
    "  values (1);\n"
)


def schema_dump(database_url: str) -> str:
    """`pg_dump --schema-only`, minus the random `\\restrict` key newer pg_dump writes each run."""
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--dbname", database_url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "".join(
        line
        for line in dump.splitlines(keepends=True)
        if not line.startswith(("\\restrict ", "\\unrestrict "))
    )


def history(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations"
            " order by version"
        ).fetchall()


def write_migration(supabase_dir: Path, file_name: str, text: str) -> None:
    (supabase_dir / "migrations" / file_name).write_text(text, encoding="utf-8")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    without_url = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run(
        [str(SAJTMASKIN), *args],
        capture_output=True,
        text=True,
        env=without_url | (env or {}),
        check=False,
    )


@pytest.fixture
def supabase_dir(tmp_path: Path) -> Path:
    """A supabase/ directory with the repository's bootstrap and no migrations yet."""
    directory = tmp_path / "supabase"
    shutil.copytree(SUPABASE_DIR / "local", directory / "local")
    (directory / "migrations").mkdir()
    return directory


@pytest.fixture
def scratch_database() -> Iterator[tuple[str, str]]:
    """The name and URL of a database `reset` may create; dropped after the test."""
    name = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    yield name, create_database(name)
    drop_database(name)


# --- the real schema ---------------------------------------------------------------------------


def test_real_schema_applies_every_migration_in_version_order(empty_database: str) -> None:
    # given the repository's supabase/ and an empty database
    expected = [migration.version for migration in local_migrations(SUPABASE_DIR)]

    # when it is migrated
    applied = migrate(empty_database)

    # then every migration was applied and recorded, in order
    assert expected
    assert applied == expected
    assert [row[0] for row in history(empty_database)] == expected


def test_second_migrate_changes_nothing(empty_database: str) -> None:
    # given a database migrated to the real schema
    migrate(empty_database)
    before = schema_dump(empty_database)

    # when it is migrated again
    applied = migrate(empty_database)

    # then nothing was applied and the schema is byte-identical
    assert applied == []
    assert schema_dump(empty_database) == before


def test_reset_of_real_schema_loads_the_seed(scratch_database: tuple[str, str]) -> None:
    # given a loopback database
    _, url = scratch_database

    # when it is reset with the repository's supabase/
    outcome = reset(url)

    # then it holds the whole schema and, if there is a seed, seeded rows
    assert outcome.applied == [migration.version for migration in local_migrations(SUPABASE_DIR)]
    assert outcome.seeded == (SUPABASE_DIR / "seed.sql").is_file()
    if outcome.seeded:
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "select table_schema, table_name from information_schema.tables"
                " where table_schema = 'public' and table_type = 'BASE TABLE'"
            ).fetchall()
            filled = [
                table
                for schema, table in tables
                if conn.execute(
                    sql.SQL("select exists (select from {})").format(sql.Identifier(schema, table))
                ).fetchone()
                == (True,)
            ]
        assert filled


# --- history and atomicity ---------------------------------------------------------------------


def test_history_rows_are_written_like_the_supabase_cli(
    empty_database: str, supabase_dir: Path
) -> None:
    # given a migration of two statements, one with a dollar-quoted body containing semicolons
    write_migration(
        supabase_dir,
        "20260101000000_notes.sql",
        GOOD + "\ncreate function public.one() returns int language plpgsql\n"
        "as $$ begin return 1; end; $$;\n",
    )

    # when it is applied
    migrate(empty_database, supabase_dir)

    # then the CLI's history row holds its version, name and trimmed statements
    assert history(empty_database) == [
        (
            "20260101000000",
            "notes",
            [
                "create table public.notes (id int primary key, body text not null)",
                "create function public.one() returns int language plpgsql\n"
                "as $$ begin return 1; end; $$",
            ],
        )
    ]


def test_failing_migration_leaves_the_database_as_it_was(
    empty_database: str, supabase_dir: Path
) -> None:
    # given a migrated database and a new file whose second statement fails
    write_migration(supabase_dir, "20260101000000_notes.sql", GOOD)
    migrate(empty_database, supabase_dir)
    schema_before, history_before = schema_dump(empty_database), history(empty_database)
    write_migration(supabase_dir, "20260102000000_tags.sql", BROKEN)

    # when it is migrated
    with pytest.raises(MigrationError) as failure:
        migrate(empty_database, supabase_dir)

    # then the first statement was rolled back with the second and nothing was recorded
    assert schema_dump(empty_database) == schema_before
    assert history(empty_database) == history_before
    assert str(failure.value).startswith(
        "20260102000000_tags.sql: statement 2 (line 4) failed: "
        '42P01 relation "public.missing_table" does not exist\n'
        "    insert into public.missing_table (id)"
    )


def test_transaction_control_in_a_file_is_refused_before_it_runs(
    empty_database: str, supabase_dir: Path
) -> None:
    # given a file that would commit half of itself
    write_migration(supabase_dir, "20260101000000_notes.sql", GOOD + "commit;\n" + BROKEN)

    # when it is migrated
    with pytest.raises(MigrationError, match=r"notes\.sql: statement 2 \(line 2\)"):
        migrate(empty_database, supabase_dir)

    # then not even the statement before the commit stayed
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("select to_regclass('public.notes')").fetchone() == (None,)


def test_concurrent_migrates_apply_each_file_once(empty_database: str, supabase_dir: Path) -> None:
    # given a slow, non-idempotent migration
    write_migration(supabase_dir, "20260101000000_notes.sql", "select pg_sleep(0.5);\n" + GOOD)
    results: list[list[str] | Exception] = []

    def run() -> None:
        try:
            results.append(migrate(empty_database, supabase_dir))
        except MigrationError as error:
            results.append(error)

    # when two runs start together
    runners = [threading.Thread(target=run) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()

    # then one applied it and the other, having waited, found nothing to do
    assert sorted(results, key=str) == [["20260101000000"], []]


# --- refusing a history the files cannot continue ----------------------------------------------


def test_recorded_version_without_its_file_is_refused(
    empty_database: str, supabase_dir: Path
) -> None:
    # given a database that recorded a migration whose file is gone
    write_migration(supabase_dir, "20260101000000_notes.sql", GOOD)
    migrate(empty_database, supabase_dir)
    (supabase_dir / "migrations" / "20260101000000_notes.sql").unlink()

    # when it is migrated, then the missing version is named
    with pytest.raises(MigrationError, match="no file in supabase/migrations: 20260101000000"):
        migrate(empty_database, supabase_dir)


def test_file_older_than_the_latest_applied_migration_is_refused(
    empty_database: str, supabase_dir: Path
) -> None:
    # given a migrated database and a new file dated before the last applied one
    write_migration(supabase_dir, "20260102000000_notes.sql", GOOD)
    migrate(empty_database, supabase_dir)
    write_migration(supabase_dir, "20260101000000_tags.sql", BROKEN)

    # when it is migrated, then the late file is named
    with pytest.raises(MigrationError, match=r"20260101000000_tags\.sql predate"):
        migrate(empty_database, supabase_dir)


@pytest.mark.parametrize("file_name", ["notes.sql", "v1_notes.sql", "20260101000000-notes.sql"])
def test_malformed_migration_file_name_is_refused(supabase_dir: Path, file_name: str) -> None:
    # given a migration file not named <digits>_<name>.sql
    write_migration(supabase_dir, file_name, GOOD)

    # when the migrations are read, then the file is named
    with pytest.raises(MigrationError, match=f"{file_name}: a migration file must be named"):
        local_migrations(supabase_dir)


# --- the local bootstrap -----------------------------------------------------------------------


def test_plain_postgres_gets_the_supabase_bootstrap(
    empty_database: str, supabase_dir: Path
) -> None:
    # given plain Postgres and no migrations at all
    # when it is migrated
    migrate(empty_database, supabase_dir)

    # then Supabase's auth helpers exist
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("select to_regprocedure('auth.uid()')").fetchone() != (None,)


def test_supabase_managed_database_gets_no_bootstrap(supabase_dir: Path) -> None:
    # given the bootstrap files of the repository
    local_files = sorted((supabase_dir / "local").glob("*.sql"))

    # when planning for a Supabase-managed and a plain database
    managed = bootstrap_files(supabase_dir, supabase_managed=True)
    plain = bootstrap_files(supabase_dir, supabase_managed=False)

    # then only the plain one gets them, in name order
    assert (managed, plain) == ([], local_files)


# --- reset -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@db.example.supabase.co:5432/postgres",
        "postgresql://postgres@10.0.0.5:5432/app",
        "postgresql://postgres@127.0.0.1,db.example.com:5432/app",
        "host=localhost hostaddr=192.0.2.10 dbname=app user=postgres",
    ],
)
def test_reset_refuses_a_database_off_this_machine(url: str) -> None:
    # given a URL naming another machine, when it is reset, then it is refused without connecting
    with pytest.raises(UnsafeResetError, match="is not loopback or a Unix socket"):
        reset(url)


def test_reset_refuses_the_maintenance_database() -> None:
    with pytest.raises(UnsafeResetError, match="not 'postgres'"):
        reset(SERVER_URL)


def test_reset_recreates_migrates_and_seeds(
    scratch_database: tuple[str, str], supabase_dir: Path
) -> None:
    # given a database holding a stray table, and a schema with a seed
    name, url = scratch_database
    with psycopg.connect(url) as conn:
        conn.execute("create table public.stray (id int)")
    write_migration(supabase_dir, "20260101000000_notes.sql", GOOD)
    (supabase_dir / "seed.sql").write_text(
        "insert into public.notes values (1, 'hej');\ninsert into public.notes values (2, 'då');\n",
        encoding="utf-8",
    )

    # when it is reset
    outcome = reset(url, supabase_dir)

    # then only the migrated schema and the seed remain
    assert (outcome.database, outcome.applied, outcome.seeded) == (name, ["20260101000000"], True)
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.stray')").fetchone() == (None,)
        assert conn.execute("select body from public.notes order by id").fetchall() == [
            ("hej",),
            ("då",),
        ]


# --- the command line --------------------------------------------------------------------------


def test_cli_migrate_reports_what_it_applied_then_that_it_is_up_to_date(
    empty_database: str,
) -> None:
    # given an empty database
    expected = [f"applied {m.path.stem}" for m in local_migrations(SUPABASE_DIR)]

    # when `sajtmaskin db migrate` runs twice
    first = run_cli("db", "migrate", "--database-url", empty_database)
    second = run_cli("db", "migrate", "--database-url", empty_database)

    # then the first run lists the applied files and the second has nothing to do
    assert (first.returncode, first.stdout.splitlines()) == (0, expected)
    assert (second.returncode, second.stdout) == (0, "database is up to date\n")


def test_cli_reads_the_database_url_from_the_environment(
    empty_database: str, supabase_dir: Path
) -> None:
    write_migration(supabase_dir, "20260101000000_notes.sql", GOOD)

    result = run_cli(
        "db", "migrate", "--supabase-dir", str(supabase_dir), env={"DATABASE_URL": empty_database}
    )

    assert (result.returncode, result.stdout) == (0, "applied 20260101000000_notes\n")


def test_cli_without_a_database_says_how_to_give_one() -> None:
    result = run_cli("db", "migrate")

    assert result.returncode == 2
    assert "pass --database-url or set DATABASE_URL" in result.stderr


def test_cli_migrate_failure_exits_1_naming_the_file(
    empty_database: str, supabase_dir: Path
) -> None:
    # given a schema whose only migration fails
    write_migration(supabase_dir, "20260102000000_tags.sql", BROKEN)

    # when `sajtmaskin db migrate` runs
    result = run_cli(
        "db", "migrate", "--database-url", empty_database, "--supabase-dir", str(supabase_dir)
    )

    # then it exits 1 with the file and statement on stderr and no traceback
    assert result.returncode == 1
    assert "20260102000000_tags.sql: statement 2 (line 4) failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reset_says_what_it_did(scratch_database: tuple[str, str], supabase_dir: Path) -> None:
    name, url = scratch_database
    write_migration(supabase_dir, "20260101000000_notes.sql", GOOD)
    (supabase_dir / "seed.sql").write_text("insert into public.notes values (1, 'hej');\n")

    result = run_cli("db", "reset", "--database-url", url, "--supabase-dir", str(supabase_dir))

    assert (result.returncode, result.stdout.splitlines()) == (
        0,
        [f"recreated database {name}", "applied 20260101000000_notes", "loaded seed.sql"],
    )
