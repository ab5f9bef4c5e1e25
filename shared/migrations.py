"""Apply `supabase/` to a Postgres database the way the Supabase CLI does, one transaction per file.

A migration is `supabase/migrations/<digits>_<name>.sql`. Applied versions are recorded in the
CLI's own history table, `supabase_migrations.schema_migrations(version, statements, name)`, with
the same DDL and the same row shape as the Supabase CLI (`pkg/migration/history.go` and
`file.go` in github.com/supabase/cli), so `supabase migration list` / `db push` and this runner can
take turns on one database.

A database that is not managed by Supabase first gets `supabase/local/*.sql`: the roles, `auth`
functions and default privileges every Supabase project has. Supabase-managed databases (hosted
projects and the Supabase CLI's local stack) are recognised by their `supabase_admin` role and
never receive that bootstrap.
"""

import ipaddress
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlparse
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SUPABASE_DIR = Path(__file__).resolve().parent.parent / "supabase"

# The Supabase CLI's migration file pattern (pkg/migration/file.go).
MIGRATION_FILE_NAME = re.compile(r"^([0-9]+)_(.*)\.sql$")

# The Supabase CLI's history table, statement for statement (pkg/migration/history.go).
HISTORY_TABLE_DDL: tuple[sql.SQL, ...] = (
    sql.SQL("set local lock_timeout = '4s'"),
    sql.SQL("create schema if not exists supabase_migrations"),
    sql.SQL(
        "create table if not exists supabase_migrations.schema_migrations"
        " (version text not null primary key)"
    ),
    sql.SQL(
        "alter table supabase_migrations.schema_migrations"
        " add column if not exists statements text[]"
    ),
    sql.SQL("alter table supabase_migrations.schema_migrations add column if not exists name text"),
)
INSERT_HISTORY_ROW = sql.SQL(
    "insert into supabase_migrations.schema_migrations (version, name, statements)"
    " values (%s, %s, %s)"
)

# Session advisory lock serialising concurrent runs on one database ("sajtmask" as an integer).
MIGRATION_LOCK_KEY = int.from_bytes(b"sajtmask", "big")

# Statements that would end the file's transaction early and break its all-or-nothing promise.
TRANSACTION_CONTROL = re.compile(
    r"^(begin|start\s+transaction|commit|end|abort|rollback(?!\s+to\b)|prepare\s+transaction)\b",
    re.IGNORECASE,
)

BOOTSTRAP_ATTEMPTS = 10

MAINTENANCE_DATABASES = frozenset({"postgres", "template0", "template1"})


class MigrationError(Exception):
    """The schema could not be applied; the message names the file, statement and cause."""


class UnsafeResetError(MigrationError):
    """`reset` was pointed at a database it must not drop."""


@dataclass(frozen=True)
class Migration:
    """One `supabase/migrations/<version>_<name>.sql` file."""

    version: str
    name: str
    path: Path


@dataclass(frozen=True)
class ResetOutcome:
    """What `reset` did: the database it recreated, the versions it applied, whether it seeded."""

    database: str
    applied: list[str]
    seeded: bool


def split_statements(text: str) -> list[str]:
    """`text` as the CLI stores it: one entry per statement, trimmed, without its final `;`."""
    return [s.strip() for s in sqlparse.split(text, strip_semicolon=True) if s.strip()]


def local_migrations(supabase_dir: Path = SUPABASE_DIR) -> list[Migration]:
    """The migration files under `supabase_dir/migrations`, in version order."""
    by_version: dict[str, Migration] = {}
    for path in sorted((supabase_dir / "migrations").glob("*.sql")):
        match = MIGRATION_FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path}: a migration file must be named <digits>_<name>.sql, "
                "e.g. 20261125000100_foundation.sql"
            )
        version, name = match.groups()
        if version in by_version:
            raise MigrationError(
                f"{path.name} and {by_version[version].path.name} share version {version}"
            )
        by_version[version] = Migration(version=version, name=name, path=path)
    # Versions compare as text, as in the CLI and its `order by version`.
    return sorted(by_version.values(), key=lambda migration: migration.version)


def pending_migrations(local: Sequence[Migration], applied: Iterable[str]) -> list[Migration]:
    """The local migrations still to apply, refusing a history the files cannot continue.

    Like the CLI, a recorded version without its file and a file older than the latest recorded
    version are errors rather than something to guess about.
    """
    applied = sorted(applied)
    known = {migration.version for migration in local}
    missing = [version for version in applied if version not in known]
    if missing:
        raise MigrationError(
            f"the database records migrations with no file in supabase/migrations: "
            f"{', '.join(missing)}; restore those files before migrating"
        )
    done = set(applied)
    pending = [migration for migration in local if migration.version not in done]
    if applied:
        late = [migration.path.name for migration in pending if migration.version < applied[-1]]
        if late:
            raise MigrationError(
                f"{', '.join(late)} predate the latest applied migration {applied[-1]}; "
                "give them a later version"
            )
    return pending


def bootstrap_files(supabase_dir: Path, *, supabase_managed: bool) -> list[Path]:
    """The `supabase_dir/local/*.sql` files to run before migrating, in name order.

    None on a Supabase-managed database: it already has the real roles and `auth` schema.
    """
    if supabase_managed:
        return []
    return sorted((supabase_dir / "local").glob("*.sql"))


def is_supabase_managed(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether Supabase runs this database (hosted or its CLI stack): `supabase_admin` exists."""
    row = conn.execute(
        "select exists (select from pg_catalog.pg_roles where rolname = 'supabase_admin')"
    ).fetchone()
    return bool(row and row[0])


def migrate(database_url: str, supabase_dir: Path = SUPABASE_DIR) -> list[str]:
    """Bring the database up to `supabase_dir`; returns the versions applied by this run."""
    migrations = local_migrations(supabase_dir)
    with _connect(database_url) as conn:
        # Session-level, so it spans every file's transaction; closing the connection releases it.
        conn.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        managed = is_supabase_managed(conn)
        for path in bootstrap_files(supabase_dir, supabase_managed=managed):
            _bootstrap(conn, path)
        pending = pending_migrations(migrations, _applied_versions(conn))
        if pending:
            with conn.transaction():
                for statement in HISTORY_TABLE_DDL:
                    conn.execute(statement)
        for migration in pending:
            _apply_file(conn, migration.path, record=migration)
    return [migration.version for migration in pending]


def create_missing_database(database_url: str) -> str | None:
    """Create the database `database_url` names if the server does not have it yet; returns the
    name of the database it created, else None.

    Only on this machine (loopback or a Unix socket, judged like `reset`); a database missing on
    any other host is a `MigrationError` saying to create it there. A URL that names no
    database, or a server that cannot be reached, is left to `migrate`, whose error says why it
    cannot connect.
    """
    database = str(conninfo_to_dict(database_url).get("dbname") or "")
    if not database or database in MAINTENANCE_DATABASES or _database_answers(database_url):
        return None
    try:
        conn = psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True)
    except psycopg.OperationalError:
        return None
    with conn:
        exists = conn.execute(
            "select from pg_catalog.pg_database where datname = %s", (database,)
        ).fetchone()
        if exists is not None:
            return None
        landed = conn.info.hostaddr or conn.info.host
        if not _is_local_host(landed):
            raise MigrationError(
                f"database {database!r} does not exist on {landed}; create it there first, "
                "then migrate"
            )
        try:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        except psycopg.errors.DuplicateDatabase:
            # Another run created it between our look and our create: the database is there.
            return None
    return database


def load_seed(database_url: str, supabase_dir: Path = SUPABASE_DIR) -> bool:
    """Run `supabase_dir/seed.sql` in one transaction; returns whether there was one."""
    seed = supabase_dir / "seed.sql"
    if not seed.is_file():
        return False
    with _connect(database_url) as conn:
        _apply_file(conn, seed)
    return True


def reset(database_url: str, supabase_dir: Path = SUPABASE_DIR) -> ResetOutcome:
    """Drop and recreate a database on this machine, migrate it and load `seed.sql`.

    Refuses, before connecting, any URL whose host is not loopback or a Unix socket, and checks
    again where the connection actually landed before dropping anything.
    """
    params = conninfo_to_dict(database_url)
    _refuse_remote(params)
    database = str(params.get("dbname") or "")
    if not database or database in MAINTENANCE_DATABASES:
        raise UnsafeResetError(
            f"reset needs the URL to name an application database, not {database or 'none'!r}"
        )
    with _connect(make_conninfo(database_url, dbname="postgres")) as conn:
        _refuse_remote_connection(conn)
        name = sql.Identifier(database)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(name))
        conn.execute(sql.SQL("create database {}").format(name))
    applied = migrate(database_url, supabase_dir)
    seeded = load_seed(database_url, supabase_dir)
    return ResetOutcome(database=database, applied=applied, seeded=seeded)


def _database_answers(database_url: str) -> bool:
    try:
        psycopg.connect(database_url).close()
    except psycopg.OperationalError:
        return False
    return True


def _connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        # No prepared statements: each DDL statement may change what the next one means.
        return psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
    except psycopg.OperationalError as error:
        raise MigrationError(f"cannot connect to the database: {error}") from error


def _applied_versions(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    row = conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()
    if row is None or row[0] is None:
        return []
    rows = conn.execute("select version from supabase_migrations.schema_migrations").fetchall()
    return [str(version) for (version,) in rows]


def _bootstrap(conn: psycopg.Connection[tuple[object, ...]], path: Path) -> None:
    """Apply an idempotent bootstrap file, retrying when another database's bootstrap races it.

    Roles are cluster-wide and advisory locks are per database, so two databases bootstrapping at
    once can collide on the same role rows (`tuple concurrently updated`); rerunning is safe.
    """
    for attempt in range(1, BOOTSTRAP_ATTEMPTS + 1):
        try:
            _apply_file(conn, path)
        except MigrationError as error:
            if attempt == BOOTSTRAP_ATTEMPTS or not _is_catalog_race(error.__cause__):
                raise
            time.sleep(random.uniform(0.02, 0.1) * attempt)  # noqa: S311 - jitter, not secrecy
        else:
            return


def _is_catalog_race(error: BaseException | None) -> bool:
    if not isinstance(error, psycopg.Error):
        return False
    if error.sqlstate == "XX000":
        return error.diag.message_primary == "tuple concurrently updated"
    return error.sqlstate in {"23505", "40001", "40P01"}


def _apply_file(
    conn: psycopg.Connection[tuple[object, ...]], path: Path, record: Migration | None = None
) -> None:
    """Run one file's statements, and its history row if any, in a single transaction."""
    text = path.read_text(encoding="utf-8")
    statements = split_statements(text)
    # As the CLI does: a plain `set` in an earlier file must not leak into this one.
    conn.execute("reset all")
    try:
        with conn.transaction():
            for number, statement in enumerate(statements, start=1):
                if TRANSACTION_CONTROL.match(_without_comments(statement)):
                    cause = "files run in one transaction and must not begin or end their own"
                    raise MigrationError(_describe(path, text, statements, number, cause))
                try:
                    conn.execute(statement.encode(conn.info.encoding))
                except psycopg.Error as error:
                    cause = _cause(error)
                    raise MigrationError(
                        _describe(path, text, statements, number, cause)
                    ) from error
            if record is not None:
                conn.execute(INSERT_HISTORY_ROW, (record.version, record.name, statements))
    except psycopg.Error as error:
        # Only the history row or the commit itself (deferred constraints) can fail here.
        raise MigrationError(
            f"{path.name}: could not be recorded and committed: {_cause(error)}"
        ) from error


def _cause(error: psycopg.Error) -> str:
    cause = f"{error.sqlstate or 'error'} {error.diag.message_primary or error}"
    if error.diag.message_detail:
        cause += f"\n  detail: {error.diag.message_detail}"
    if error.diag.message_hint:
        cause += f"\n  hint: {error.diag.message_hint}"
    return cause


def _describe(path: Path, text: str, statements: list[str], number: int, cause: str) -> str:
    """`file: statement N (line L) failed: cause`, followed by the statement's first lines."""
    statement = statements[number - 1]
    start = end = 0
    for earlier in statements[:number]:
        start = max(text.find(earlier, end), end)
        end = start + len(earlier)
    lines = statement.splitlines()
    skipped = 0
    while skipped < len(lines) - 1 and _is_comment_or_blank(lines[skipped]):
        skipped += 1
    line = text.count("\n", 0, start) + skipped + 1
    shown = lines[skipped : skipped + 3]
    excerpt = "\n".join(f"    {code}" for code in shown)
    more = "\n    ..." if len(lines) > skipped + 3 else ""
    return f"{path.name}: statement {number} (line {line}) failed: {cause}\n{excerpt}{more}"


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("--")


def _without_comments(statement: str) -> str:
    return str(sqlparse.format(statement, strip_comments=True)).strip()


def _is_local_host(host: str) -> bool:
    # Empty means libpq's default, a Unix socket; '/' and '@' are socket directories/abstract names.
    if not host or host.startswith(("/", "@")) or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_remote(params: Mapping[str, object]) -> None:
    for key in ("host", "hostaddr"):
        for host in str(params.get(key) or "").split(","):
            if not _is_local_host(host.strip()):
                raise UnsafeResetError(
                    f"reset only drops databases on this machine; {key} {host.strip()!r} is not "
                    "loopback or a Unix socket"
                )


def _refuse_remote_connection(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    # The URL may leave the host to PGHOST or a service file; judge where we really connected.
    landed = conn.info.hostaddr or conn.info.host
    if not _is_local_host(landed):
        raise UnsafeResetError(
            f"reset only drops databases on this machine; the connection reached {landed!r}"
        )
