"""The gateway's configuration as `sajtmaskin up` renders it, and the settings it passes on."""

import subprocess
from pathlib import Path

import msgspec
import pytest

from services import SERVICE_NAMES
from services.up import (
    GATEWAY_TEMPLATE,
    PLACEHOLDER,
    LayoutError,
    render_template,
    settings_environment,
    write_gateway_config,
)
from shared.config import Settings, load_settings

# The variables a deployment (e.g. a compose file with the official nginx image) sets.
DOCUMENTED_PLACEHOLDERS = {
    "GATEWAY_PORT",
    "AUTH_UPSTREAM",
    "PROJECTS_UPSTREAM",
    "BILLING_UPSTREAM",
    "MEDIA_UPSTREAM",
    "ANALYTICS_UPSTREAM",
    "MEDIA_MAX_BODY",
}


def test_every_setting_reaches_a_service_process_as_it_was() -> None:
    # given settings where every field differs from its default
    unusual = msgspec.convert(
        {field.name: _unusual(field) for field in msgspec.structs.fields(Settings)}, Settings
    )

    # when they are passed on as environment variables and read back as a service reads them
    read_back = load_settings(settings_environment(unusual))

    # then nothing was lost or changed, nor for the defaults
    assert read_back == unusual
    assert load_settings(settings_environment(Settings())) == Settings()


def test_the_template_uses_only_the_documented_placeholders() -> None:
    # Anything else in ${...} form, an nginx variable above all, envsubst would replace.
    assert set(PLACEHOLDER.findall(GATEWAY_TEMPLATE.read_text())) == DOCUMENTED_PLACEHOLDERS


def test_the_rendered_configuration_is_one_nginx_accepts(nginx: str, tmp_path: Path) -> None:
    config = write_gateway_config(
        tmp_path,
        gateway_port=18080,
        upstreams={name: f"127.0.0.1:{9000 + n}" for n, name in enumerate(SERVICE_NAMES)},
        media_max_bytes=4 * 1024 * 1024,
    )

    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr
    assert "${" not in (tmp_path / "sajtmaskin.conf").read_text()
    # The media cap is the service's own ceiling: the largest file plus its form.
    assert "client_max_body_size 4259840;" in (tmp_path / "sajtmaskin.conf").read_text()


def test_a_placeholder_without_a_value_is_refused_not_left_empty() -> None:
    rendered = render_template("listen ${GATEWAY_PORT}; # $host stays", {"GATEWAY_PORT": "80"})

    assert rendered == "listen 80; # $host stays"
    with pytest.raises(LayoutError, match="AUTH_UPSTREAM"):
        render_template("server ${AUTH_UPSTREAM};", {})


def _unusual(field: msgspec.structs.FieldInfo) -> object:
    """A value of the field's type that is not its default."""
    default = field.default
    if field.name == "data_plane":
        return "postgrest"
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, tuple):
        return ("https://one.example", "https://two.example")
    return f"{field.name}-value"
