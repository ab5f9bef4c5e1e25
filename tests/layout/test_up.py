"""`sajtmaskin up`, run for real: nginx in front of five `sajtmaskin serve` processes, walked
through as a user would, then stopped with Ctrl-C.

One layout serves the whole module (it takes seconds to start); the last test stops it.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from services import SERVICE_NAMES
from shared.local_stack import free_port
from standins.vercel import VercelStandIn
from tests.conftest import create_database, drop_database
from tests.fakes.redis_fixtures import REDIS_URL
from tests.local_stack.test_dev import CONFIGURATION, REPOSITORY, SAJTMASKIN
from tests.media.conftest import png

STARTUP_TIMEOUT_S = 60.0
MEDIA_MAX_BYTES = 256 * 1024
PASSWORD = "a long enough password"
# Another loopback address than the one nginx and the services use, so the address a service
# sees for the client can only have come through the gateway's X-Forwarded-For.
CLIENT_ADDRESS = "127.0.0.2"
# httpx's own user agent is a bot's, whose views are not counted.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@dataclass(frozen=True)
class RunningLayout:
    process: subprocess.Popen[bytes]
    output: Path
    gateway: str
    service_ports: dict[str, int]
    database_url: str
    redis_prefix: str

    def printed(self) -> str:
        return self.output.read_text()


@pytest.fixture(scope="module")
def layout(nginx: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLayout]:
    """`sajtmaskin up` on a database of its own on the test server and the test Redis under a
    key prefix of its own, with media's cap lowered to 256 KiB."""
    directory = tmp_path_factory.mktemp("up")
    database = f"sajtmaskin_test_{uuid.uuid4().hex[:12]}"
    database_url = create_database(database)
    prefix = f"test-up-{uuid.uuid4().hex[:8]}:"
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURATION}
    environment |= {
        "SAJTMASKIN_STATE_DIR": str(directory / "state"),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "PUBLIC_BASE_URL": "",
        "MEDIA_MAX_BYTES": str(MEDIA_MAX_BYTES),
        "PAGE_VIEW_FLUSH_MS": "100",
    }
    output = directory / "up.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [SAJTMASKIN, "up", "--port", str(port)],
            cwd=REPOSITORY,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        gateway = f"http://127.0.0.1:{port}"
        _wait_for(re.compile(r"^gateway\s+http://", re.MULTILINE), process, output)
        printed = output.read_text()
        yield RunningLayout(
            process=process,
            output=output,
            gateway=gateway,
            service_ports={name: _printed_port(name, printed) for name in SERVICE_NAMES},
            database_url=database_url,
            redis_prefix=prefix,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with redis.Redis.from_url(REDIS_URL) as client:
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)
        drop_database(database)


def test_a_user_goes_from_sign_up_to_a_generated_site_through_the_gateway(
    layout: RunningLayout,
) -> None:
    email = f"journey-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=layout.gateway, timeout=30) as client:
        # given a new account, verified through the link mailed to it
        registered = client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        link = re.compile(rf"{re.escape(layout.gateway)}/auth/verify-email\?token=[\w%-]+")
        verified = httpx.get(_wait_for(link, layout.process, layout.output, after=email))
        assert verified.headers["location"].endswith("verified=success")
        token = _login(client, email)
        me = {"Authorization": f"Bearer {token}"}

        # when the user creates a site, saves a few megabytes of work on it (more than nginx
        # keeps in memory) and generates it, streamed
        created = client.post("/projects", json={"name": "Bageriet"}, headers=me)
        assert created.status_code == 201, created.text
        site = created.json()["id"]
        code = "<main>Bröd</main>\n" * 200_000
        saved = client.put(f"/projects/{site}/data", json={"currentCode": code}, headers=me)
        assert saved.status_code == 200, saved.text
        assert client.get(f"/projects/{site}", headers=me).json()["data"]["currentCode"] == code
        events = _streamed_generation(client, site, me)

        # then the stream arrived as it was written, not in one piece at the end
        names = [name for name, _, _ in events]
        assert names[0] == "started"
        assert names[-1] == "done", events
        assert events[-1][2] - events[0][2] > 0.3
        done = json.loads(events[-1][1])
        assert (done["cost"], done["balance"]) == (10, 40)
        # and the balance shows the charge
        balance = client.get("/billing/balance", headers=me)
        assert balance.json()["diamonds"] == 40

        # when an image is uploaded, it is served back through the gateway
        image = png(4, 4)
        upload = client.post(
            "/media/uploads",
            files={"file": ("logo.png", image, "image/png")},
            data={"projectId": site},
            headers=me,
        )
        assert upload.status_code == 201, upload.text
        assert client.get(upload.json()["contentUrl"], headers=me).content == image

        # when the site is visited, and the user, made an admin, reads the statistics
        viewed = client.post(
            "/analytics/pageview", json={"path": "/bageriet"}, headers={"User-Agent": BROWSER}
        )
        assert viewed.status_code == 202
        with psycopg.connect(layout.database_url, autocommit=True) as conn:
            conn.execute("update public.users set tier = 'admin' where email = %s", (email,))
        admin = {"Authorization": f"Bearer {_login(client, email)}"}
        stats = _statistics_with_views(client, admin)

    # then they count the sign-up, the site and the view
    assert stats["views"] >= 1
    assert stats["signups"] >= 1
    assert stats["sitesCreated"] >= 1


def test_each_service_answers_health_ready_and_metrics_on_its_own_port_only(
    layout: RunningLayout,
) -> None:
    for name, port in layout.service_ports.items():
        service = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{service}/health").json() == {"status": "ok", "service": name}
        ready = httpx.get(f"{service}/ready")
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
        assert httpx.get(f"{service}/metrics").status_code == 200

    for path in ("/metrics", "/ready", "/auth/metrics", "/", "/elsewhere"):
        hidden = httpx.get(f"{layout.gateway}{path}")
        assert hidden.status_code == 404, path
        assert hidden.json()["code"] == "not_found"
    assert httpx.get(f"{layout.gateway}/health").json()["service"] == "gateway"


def test_each_services_api_docs_are_served_through_the_gateway(layout: RunningLayout) -> None:
    for name in SERVICE_NAMES:
        document = httpx.get(f"{layout.gateway}/{name}/schema/openapi.json")
        assert document.status_code == 200, name
        assert document.json()["info"]["title"] == f"Sajtmaskin {name}"
        assert any(path.startswith(f"/{name}") for path in document.json()["paths"])
        page = httpx.get(f"{layout.gateway}/{name}/schema")
        assert page.status_code == 200
        assert "/schema/ui/swagger-ui-bundle.js" in page.text
    # The page's scripts, at the path the page names.
    assert httpx.get(f"{layout.gateway}/schema/ui/swagger-ui-bundle.js").status_code == 200


def test_the_clients_request_id_passes_through_and_one_is_made_when_absent(
    layout: RunningLayout,
) -> None:
    given = httpx.get(f"{layout.gateway}/projects", headers={"X-Request-ID": "journey-42"})
    made = httpx.get(f"{layout.gateway}/projects")
    refused = httpx.get(f"{layout.gateway}/projects", headers={"X-Request-ID": "no spaces!"})
    own = httpx.get(f"{layout.gateway}/nowhere", headers={"X-Request-ID": "journey-43"})

    assert given.headers.get_list("x-request-id") == ["journey-42"]
    assert len(made.headers.get_list("x-request-id")) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])
    # The gateway's own answers carry it too.
    assert own.headers.get_list("x-request-id") == ["journey-43"]
    # And the service logged the request under the client's id.
    _wait_for(re.compile(r'"request_id": ?"journey-42"'), layout.process, layout.output)


def test_services_see_the_address_the_gateway_forwards_not_one_the_client_claims(
    layout: RunningLayout,
) -> None:
    # given a client on another loopback address that claims to be someone else
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(transport=transport, base_url=layout.gateway) as client:
        # when it registers (limited per client address)
        response = client.post(
            "/auth/register",
            json={"email": f"xff-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    assert response.status_code == 201, response.text

    # then auth counted the attempt against the client's own address
    with redis.Redis.from_url(REDIS_URL) as store:
        limited = {key.decode() for key in store.scan_iter(match=f"{layout.redis_prefix}*:ip:*")}
    assert f"{layout.redis_prefix}ratelimit:register:ip:{CLIENT_ADDRESS}" in limited
    assert not any("203.0.113.9" in key for key in limited)


def test_a_body_over_medias_cap_is_refused_at_the_gateway(layout: RunningLayout) -> None:
    too_large = b"\0" * (MEDIA_MAX_BYTES + 128 * 1024)
    refused = httpx.post(
        f"{layout.gateway}/media/uploads",
        files={"file": ("big.png", too_large, "image/png")},
        headers={"Authorization": "Bearer not-even-checked"},
    )
    # The gateway's answer: media would have said 401 first, or file_too_large.
    assert refused.status_code == 413
    assert refused.json()["code"] == "body_too_large"


def test_a_webhook_signed_over_its_raw_bytes_is_verified_through_the_gateway(
    layout: RunningLayout,
) -> None:
    # given a delivery from Vercel (its stand-in's secret, which `up` configures), its bytes
    # written with spaces and non-ASCII text that any re-encoding would change
    vercel = VercelStandIn()
    raw = json.dumps(
        {"id": "evt_1", "type": "project.created", "payload": {"name": "Café Ölstugan"}},
        ensure_ascii=False,
        indent=1,
    ).encode()
    url = f"{layout.gateway}/projects/vercel/webhook"

    # when it is delivered through the gateway, and again with one byte changed
    delivered = httpx.post(url, content=raw, headers=vercel.signed(raw))
    tampered = httpx.post(url, content=raw.replace(b"evt_1", b"evt_2"), headers=vercel.signed(raw))

    # then the signature held over exactly the bytes sent, and only over those
    assert delivered.status_code == 200, delivered.text
    assert tampered.status_code == 401
    assert tampered.json()["code"] == "invalid_signature"


def test_ctrl_c_stops_every_process_and_frees_every_port(layout: RunningLayout) -> None:
    # given everything `up` started (services, nginx and its workers) and every port it serves
    children = _descendants(layout.process.pid)
    ports = [int(layout.gateway.rsplit(":", 1)[1]), *layout.service_ports.values()]
    ports += [_printed_port(part, layout.printed()) for part in ("v0", "vercel")]
    assert len(children) >= 7, children  # five services, nginx's master and a worker at least

    # when it gets Ctrl-C
    layout.process.send_signal(signal.SIGINT)
    exit_code = layout.process.wait(timeout=30)

    # then it stopped them all and exited cleanly
    assert exit_code == 0, layout.printed()
    assert [pid for pid in children if _alive(pid)] == []
    assert [port for port in ports if _listening(port)] == []
    assert layout.printed().rstrip().endswith("stopped")


def _login(client: httpx.Client, email: str) -> str:
    response = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["accessToken"]
    return token


def _streamed_generation(
    client: httpx.Client, site_id: str, headers: dict[str, str]
) -> list[tuple[str, str, float]]:
    """The events of a streamed generation: (name, data, when it arrived)."""
    events: list[tuple[str, str, float]] = []
    with client.stream(
        "POST",
        f"/projects/{site_id}/generate",
        json={"prompt": "A bakery in Gothenburg", "idempotencyKey": "journey"},
        headers={**headers, "Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200, response.read()
        name = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                events.append((name, line.removeprefix("data:").strip(), time.monotonic()))
    return events


def _statistics_with_views(client: httpx.Client, headers: dict[str, str]) -> dict[str, int]:
    """Today's statistics once the page view is written (it is batched)."""
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/analytics/stats", params={"days": 1}, headers=headers)
        assert response.status_code == 200, response.text
        stats: dict[str, int] = response.json()
        if stats["views"] or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def _wait_for(
    pattern: re.Pattern[str], process: subprocess.Popen[bytes], output: Path, after: str = ""
) -> str:
    """The first match of `pattern` in what `up` printed (after the text `after`)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        printed = output.read_text()
        match = pattern.search(printed, printed.find(after) if after else 0)
        if match:
            return match[0]
        if process.poll() is not None:
            pytest.fail(f"`sajtmaskin up` exited with {process.returncode}:\n{printed}")
        time.sleep(0.1)
    pytest.fail(f"no {pattern.pattern} in what `sajtmaskin up` printed:\n{output.read_text()}")


def _printed_port(part: str, printed: str) -> int:
    match = re.search(rf"^{part}\s+\w+://127\.0\.0\.1:(\d+)", printed, re.MULTILINE)
    assert match, f"no {part} URL in:\n{printed}"
    return int(match[1])


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
