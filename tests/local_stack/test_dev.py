"""`sajtmaskin dev`, run for real: it serves the gateway on what it starts, and stops it all."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from shared.local_stack import API_KEY_ISSUER, free_port, seed_demo_logins
from standins.v0 import V0StandIn
from standins.vercel import VercelStandIn

REPOSITORY = Path(__file__).resolve().parents[2]
SAJTMASKIN = Path(sys.executable).with_name("sajtmaskin")
STARTUP_TIMEOUT_S = 60.0
# Whatever would point `dev` at servers that are already running.
CONFIGURATION = (
    "DATABASE_URL",
    "REDIS_URL",
    "KV_URL",
    "SUPABASE_URL",
    "SUPABASE_REST_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "JWT_SECRET",
    "JWT_JWKS_URL",
    "DATA_PLANE",
    "V0_API_KEY",
    "V0_API_URL",
    "VERCEL_TOKEN",
    "VERCEL_TEAM_ID",
    "VERCEL_API_URL",
    "VERCEL_WEBHOOK_SECRET",
)


@pytest.mark.parametrize(
    ("data_plane", "stop_signal"),
    [
        pytest.param("postgres", signal.SIGINT, id="postgres-sigint"),
        pytest.param("postgrest", signal.SIGTERM, id="postgrest-sigterm"),
    ],
)
def test_dev_serves_the_gateway_and_stops_everything_it_started(
    tmp_path: Path, data_plane: str, stop_signal: signal.Signals
) -> None:
    state_dir = tmp_path / "state"
    output = tmp_path / "dev.log"
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION}
    environment["SAJTMASKIN_STATE_DIR"] = str(state_dir)
    gateway = f"http://127.0.0.1:{port}"

    with output.open("wb") as log:
        process = subprocess.Popen(
            [SAJTMASKIN, "dev", "--port", str(port), "--data-plane", data_plane],
            cwd=REPOSITORY,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(f"{gateway}/health", process, output)
        ready = httpx.get(f"{gateway}/ready")
        schema = httpx.get(f"{gateway}/schema/openapi.json")
        docs = httpx.get(f"{gateway}/schema")
        process.send_signal(stop_signal)
        exit_code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    printed = output.read_text()
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert schema.json()["info"]["title"] == "Sajtmaskin gateway"
    assert docs.status_code == 200
    assert exit_code == 0, printed
    assert not (state_dir / "postgres" / "postmaster.pid").exists()
    assert not _listening(_printed_port("redis", printed))
    if data_plane == "postgrest":
        assert not _listening(_printed_port("postgrest", printed))


def test_a_newcomer_signs_in_as_a_printed_demo_user_and_gets_mail_linking_to_the_dev_port(
    tmp_path: Path,
) -> None:
    # given `sajtmaskin dev --port N` on a fresh state directory, nothing configured
    state_dir = tmp_path / "state"
    output = tmp_path / "dev.log"
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION}
    environment |= {"SAJTMASKIN_STATE_DIR": str(state_dir), "PUBLIC_BASE_URL": ""}
    gateway = f"http://127.0.0.1:{port}"
    link = re.compile(rf"{re.escape(gateway)}/auth/verify-email\?token=[\w%-]+")

    with output.open("wb") as log:
        process = subprocess.Popen(
            [SAJTMASKIN, "dev", "--port", str(port)],
            cwd=REPOSITORY,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(f"{gateway}/health", process, output)
        printed = output.read_text()
        demo_logins = re.findall(r"^demo login\s+(\S+) / (\S+)$", printed, re.MULTILINE)
        keys = dict(re.findall(r"^(anon|service_role) key\s+(\S+)$", printed, re.MULTILINE))

        # when each printed demo user signs in, and someone new registers
        sign_ins = [
            httpx.post(f"{gateway}/auth/login", json={"email": email, "password": password})
            for email, password in demo_logins
        ]
        registered = httpx.post(
            f"{gateway}/auth/register",
            json={"email": "newcomer@example.com", "password": "a long enough password"},
        )
        mailed = _wait_for_line(link, process, output)
        verified = httpx.get(mailed)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    # then every seeded user signs in with the printed password
    assert [(login.email, login.password) for login in seed_demo_logins()] == demo_logins
    assert demo_logins
    assert [response.status_code for response in sign_ins] == [200] * len(demo_logins)
    # and the printed keys are the anon and service-role keys of the local JWT secret
    secret = (state_dir / "jwt_secret").read_text().strip()
    claims = {role: jwt.decode(key, secret, ["HS256"]) for role, key in keys.items()}
    assert {role: (c["role"], c["iss"]) for role, c in claims.items()} == {
        "anon": ("anon", API_KEY_ISSUER),
        "service_role": ("service_role", API_KEY_ISSUER),
    }
    # and the verification mail (written to the log) links to this gateway, where it works
    assert registered.status_code == 201, registered.text
    assert verified.status_code in (302, 303)
    assert verified.headers["location"].endswith("verified=success")


def test_without_keys_dev_serves_the_v0_and_vercel_standins_and_stops_them(
    tmp_path: Path,
) -> None:
    # given `sajtmaskin dev` with neither V0_API_KEY nor VERCEL_TOKEN
    output = tmp_path / "dev.log"
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION}
    environment["SAJTMASKIN_STATE_DIR"] = str(tmp_path / "state")

    with output.open("wb") as log:
        process = subprocess.Popen(
            [SAJTMASKIN, "dev", "--port", str(port)],
            cwd=REPOSITORY,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/health", process, output)
        printed = output.read_text()
        v0_url = re.search(r"^v0\s+(http://127\.0\.0\.1:\d+/v1) \(stand-in", printed, re.M)
        vercel_url = re.search(r"^vercel\s+(http://127\.0\.0\.1:\d+) \(stand-in", printed, re.M)
        assert v0_url, printed
        assert vercel_url, printed
        # when a prompt is sent to the printed v0 with the stand-in's key
        chat = httpx.post(
            f"{v0_url[1]}/chats",
            json={"message": "A bakery in Malmö"},
            headers={"Authorization": f"Bearer {V0StandIn.api_key}"},
            timeout=10,
        )
        # and the printed Vercel is asked for a project's domains with the stand-in's token
        domains = httpx.get(
            f"{vercel_url[1]}/v9/projects/prj_none/domains",
            params={"teamId": VercelStandIn.team_id},
            headers={"Authorization": f"Bearer {VercelStandIn.token}"},
            timeout=10,
        )
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # then v0 answered with a completed version of that site, Vercel as Vercel does
    assert chat.status_code == 200, chat.text
    assert chat.json()["latestVersion"]["status"] == "completed"
    assert domains.status_code == 404
    assert domains.json()["error"]["code"] == "not_found"
    # and both are stopped with the rest
    assert exit_code == 0, output.read_text()
    assert not _listening(_printed_port("v0", printed))
    assert not _listening(_printed_port("vercel", printed))


def _wait_for_line(pattern: re.Pattern[str], process: subprocess.Popen[bytes], output: Path) -> str:
    """The first match of `pattern` in what `dev` prints, waiting for the mail sender's pass."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        match = pattern.search(output.read_text())
        if match:
            return match[0]
        if process.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail(f"no {pattern.pattern} in what `sajtmaskin dev` printed:\n{output.read_text()}")


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`sajtmaskin dev` exited with {process.returncode}:\n{output.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"`sajtmaskin dev` did not serve {url} in time:\n{output.read_text()}")


def _printed_port(part: str, printed: str) -> int:
    match = re.search(rf"^{part}\s+\w+://127\.0\.0\.1:(\d+)", printed, re.MULTILINE)
    assert match, f"no {part} URL in:\n{printed}"
    return int(match[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
