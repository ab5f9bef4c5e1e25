"""`sajtmaskin up`: the production layout on one machine.

Each service runs as its own `sajtmaskin serve <service>` process on a port of its own, and nginx
in front of them serves deploy/gateway/sajtmaskin.conf.template, rendered as the official nginx
image renders it, on the gateway's port. What the services run on (database, Redis, the v0 and
Vercel stand-ins) is `open_dev_stack`'s, as for `sajtmaskin dev`; this module starts only the
processes of the layout and stops them, the gateway first.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from services import SERVICE_NAMES
from shared.config import Settings
from shared.local_stack import DEV_HOST, free_port

GATEWAY_TEMPLATE = (
    Path(__file__).resolve().parents[1] / "deploy" / "gateway" / "sajtmaskin.conf.template"
)
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
POLL_INTERVAL_S = 0.1
# Debian installs nginx in /usr/sbin, which an ordinary user's PATH often lacks.
NGINX_FALLBACK_PATH = "/usr/sbin:/usr/local/sbin:/sbin"

# Settings fields whose variable is not the field's name in capitals (see `load_settings`).
ENVIRONMENT_NAMES = {"jwks_url": "JWT_JWKS_URL", "state_dir": "SAJTMASKIN_STATE_DIR"}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class LayoutError(RuntimeError):
    """A process of the layout could not be started, or exited while it ran."""


@dataclass(frozen=True)
class Part:
    """A process of the layout: a service or the gateway."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    program: str
    """What runs, as a person would type it (`sajtmaskin serve auth`, `nginx`)."""

    @property
    def url(self) -> str:
        return f"http://{DEV_HOST}:{self.port}"


@dataclass(frozen=True)
class Layout:
    """The running layout: every service, then the gateway in front of them."""

    services: tuple[Part, ...]
    gateway: Part

    def lines(self) -> list[tuple[str, str]]:
        """(part, where it answers) for each process, in the style of `sajtmaskin dev`."""
        lines = [
            (part.name, f"{part.url}  ({part.program}, pid {part.process.pid})")
            for part in self.services
        ]
        docs = f"{self.gateway.url}/<service>/schema"
        lines.append(
            ("gateway", f"{self.gateway.url}  (nginx, pid {self.gateway.process.pid}; docs {docs})")
        )
        return lines

    def wait(self) -> None:
        """Block while every process runs; LayoutError naming the first that exits."""
        parts = (*self.services, self.gateway)
        while True:
            for part in parts:
                code = part.process.poll()
                if code is not None:
                    raise LayoutError(f"`{part.program}` exited with code {code}")
            time.sleep(POLL_INTERVAL_S * 5)


def nginx_binary() -> str:
    """The nginx executable; LayoutError saying how to install it when there is none."""
    binary = shutil.which("nginx") or shutil.which("nginx", path=NGINX_FALLBACK_PATH)
    if binary is None:
        raise LayoutError(
            "nginx is not installed: `sajtmaskin up` runs it as the gateway. "
            "Install it (Debian/Ubuntu: `apt-get install nginx`) and try again."
        )
    return binary


@contextmanager
def open_layout(settings: Settings, *, gateway_port: int, nginx: str) -> Iterator[Layout]:
    """Serve each service in a process of its own with `settings` (trusting the gateway's
    X-Forwarded-For), then nginx on `gateway_port` in front of them; on exit stop the gateway,
    then the services. Files nginx needs go to `<state_dir>/gateway`."""
    service_settings = msgspec.structs.replace(settings, trusted_proxies=(DEV_HOST,))
    # The inherited environment (PATH, HOME, …), with every setting stated explicitly over it.
    environment = {**os.environ, **settings_environment(service_settings)}
    ports = _free_ports(len(SERVICE_NAMES), taken={gateway_port})
    sajtmaskin = _sajtmaskin()
    with ExitStack() as started:
        # Stopped together, each as soon as it has started.
        service_processes: list[subprocess.Popen[bytes]] = []
        started.callback(_stop, service_processes)
        services: list[Part] = []
        for name, port in zip(SERVICE_NAMES, ports, strict=True):
            process = _start([sajtmaskin, "serve", name, "--port", str(port)], environment)
            service_processes.append(process)
            services.append(Part(name, port, process, f"sajtmaskin serve {name}"))
        # All started before any is awaited: they load side by side.
        for part in services:
            _wait_until_healthy(part)

        gateway_dir = Path(settings.state_dir).resolve() / "gateway"
        config = write_gateway_config(
            gateway_dir,
            gateway_port=gateway_port,
            upstreams={part.name: f"{DEV_HOST}:{part.port}" for part in services},
            media_max_bytes=settings.media_max_bytes,
        )
        command = [nginx, "-p", str(gateway_dir), "-e", "stderr", "-c", str(config)]
        gateway = Part("gateway", gateway_port, _start([*command, "-g", "daemon off;"]), "nginx")
        started.callback(_stop, [gateway.process])
        _wait_until_healthy(gateway)
        yield Layout(tuple(services), gateway)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment variables `load_settings` reads back as `settings` (unset ones left out)."""
    environment: dict[str, str] = {}
    for field in msgspec.structs.fields(Settings):
        value = getattr(settings, field.name)
        if value is None:
            continue
        name = ENVIRONMENT_NAMES.get(field.name, field.name.upper())
        if isinstance(value, bool):
            environment[name] = "true" if value else "false"
        elif isinstance(value, tuple):
            environment[name] = ",".join(value)
        else:
            environment[name] = str(value)
    return environment


def render_template(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `${NAME}` replaced by its value, as envsubst does; a placeholder
    without a value is an error, not an empty string in the configuration."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            raise LayoutError(f"{GATEWAY_TEMPLATE.name} needs ${{{name}}}, which has no value")
        return values[name]

    return PLACEHOLDER.sub(value, template)


def write_gateway_config(
    directory: Path, *, gateway_port: int, upstreams: Mapping[str, str], media_max_bytes: int
) -> Path:
    """Render the gateway's template into `directory` with a main nginx.conf around it that keeps
    everything nginx writes (pid, temporary bodies) there, so any user can run it; its path."""
    # Imported here, as services are everywhere else, so the layout loads only what it starts.
    from services.media.uploads import FORM_OVERHEAD

    directory.mkdir(parents=True, exist_ok=True)
    values = {f"{name.upper()}_UPSTREAM": address for name, address in upstreams.items()}
    values |= {
        # The loopback only, as `sajtmaskin dev` listens.
        "GATEWAY_PORT": f"{DEV_HOST}:{gateway_port}",
        # The same ceiling as media's own: the largest file plus its multipart form.
        "MEDIA_MAX_BODY": str(media_max_bytes + FORM_OVERHEAD),
    }
    routes = directory / GATEWAY_TEMPLATE.name.removesuffix(".template")
    routes.write_text(render_template(GATEWAY_TEMPLATE.read_text(), values))
    # Started as root, nginx would run its workers as `nobody`, who cannot reach a private
    # state directory: they run as the user who started it, as the services do.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"# Written by `sajtmaskin up` at every start; the routes are in {routes.name}.\n"
        f"{user}"
        "worker_processes auto;\n"
        f"pid {directory}/nginx.pid;\n"
        # Not warn: that level logs every request body spooled to a temporary file.
        "error_log stderr error;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        # Each service writes one access line per request, with the same request id.
        "    access_log off;\n"
        f"    client_body_temp_path {directory}/client_body;\n"
        f"    proxy_temp_path {directory}/proxy;\n"
        f"    fastcgi_temp_path {directory}/fastcgi;\n"
        f"    uwsgi_temp_path {directory}/uwsgi;\n"
        f"    scgi_temp_path {directory}/scgi;\n"
        f"    include {routes};\n"
        "}\n"
    )
    return main


def _sajtmaskin() -> str:
    """The `sajtmaskin` command of this environment, beside its interpreter."""
    command = Path(sys.executable).with_name("sajtmaskin")
    if not command.is_file():
        raise LayoutError(f"no `sajtmaskin` command beside {sys.executable}; install the project")
    return str(command)


def _free_ports(count: int, taken: set[int]) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in taken and port not in ports:
            ports.append(port)
    return ports


def _start(
    command: list[str], environment: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    # Output goes to ours. A session of its own: Ctrl-C reaches only `up`, which stops each
    # process in order, and a process group to kill should one not stop.
    return subprocess.Popen(  # noqa: S603 - our own programs, no shell
        command, env=environment, stdin=subprocess.DEVNULL, start_new_session=True
    )


def _wait_until_healthy(part: Part) -> None:
    """Poll the part's /health until it answers 200; LayoutError if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = part.process.poll()
        if code is not None:
            raise LayoutError(
                f"`{part.program}` exited with code {code} while starting (its output is above)"
            )
        try:
            if httpx.get(f"{part.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise LayoutError(
        f"`{part.program}` did not answer {part.url}/health in {START_TIMEOUT_S:.0f}s"
    )


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each (uvicorn and nginx both stop on it), then wait; a process still running
    after the grace period is killed with its whole group (a service's worker processes)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            # The group is still there: its leader has not exited.
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
