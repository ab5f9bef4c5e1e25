"""The local stack's PostgREST is the real PostgREST 12 and serves the migrated database."""

import subprocess

import httpx

from shared.local_stack import POSTGREST_VERSION, postgrest_binary


def test_postgrest_binary_is_postgrest_12() -> None:
    version = subprocess.run(
        [postgrest_binary(), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == f"PostgREST {POSTGREST_VERSION}"


def test_postgrest_serves_the_openapi_root_without_a_token(postgrest_url: str) -> None:
    response = httpx.get(f"{postgrest_url}/")
    assert response.status_code == 200
    assert response.json()["swagger"] == "2.0"
