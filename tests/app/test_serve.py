"""`sajtmaskin serve <service>` runs that one service with its settings from the environment."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from psycopg.conninfo import make_conninfo

from shared.local_stack import free_port
from tests.conftest import JWT_SECRET

SAJTMASKIN = Path(sys.executable).with_name("sajtmaskin")
STARTUP_TIMEOUT_S = 30.0


def test_serve_runs_one_service_under_its_own_name(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    output = tmp_path / "serve.log"
    environment = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": make_conninfo(database_url, user="authenticator"),
        "JWT_SECRET": JWT_SECRET,
    }
    with output.open("wb") as log:
        process = subprocess.Popen(
            [SAJTMASKIN, "serve", "projects", "--port", str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        health = _first_answer(f"http://127.0.0.1:{port}/health", process, output)
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert health.json() == {"status": "ok", "service": "projects"}
    assert exit_code == 0, output.read_text()


def _first_answer(url: str, process: subprocess.Popen[bytes], output: Path) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"`sajtmaskin serve` exited with {process.returncode}:\n{output.read_text()}"
            )
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"`sajtmaskin serve` did not answer {url} in time:\n{output.read_text()}")
