"""`/metrics` counts requests by route template, database failures by class and calls to third
parties by upstream; each series is labelled with the service, none with anything unbounded."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from services.billing.app import create_app as create_billing
from shared.app import create_service_app
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.data.query import Select, eq
from shared.identity import service_caller
from shared.local_stack import free_port
from shared.metrics import MeasuredTransport, Upstreams, render, upstream_urls
from standins.http_server import serve_http
from standins.v0 import V0StandIn
from standins.vercel import VercelStandIn
from tests.app.conftest import probe_router
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL
from tests.fakes.stripe import FakeStripe
from tests.tenancy import service_role_key
from tests.world import a_user, bearer

Client = AsyncTestClient[Litestar]


@get("/sites/{site_id:uuid}")
async def site(site_id: UUID) -> dict[str, str]:
    return {"id": str(site_id)}


@get("/users/{user_id:str}")
async def user_by_text(
    user_id: FromPath[str],
    data_plane: NamedDependency[DataPlane],
    settings: NamedDependency[Settings],
) -> list[dict[str, Any]]:
    """A query the database refuses when the id is not a uuid (SQLSTATE 22P02)."""
    result = await data_plane.run(
        service_caller(settings),
        Select(table="users", columns=("id",), filters=(eq("id", user_id),)),
    )
    return result.rows


@get("/v0-models")
async def v0_models(state: State) -> dict[str, int]:
    """One call to v0 over the app's shared HTTP client."""
    settings: Settings = state.settings
    response = await state.http.get(f"{settings.v0_api_url}/user", headers={"Authorization": "x"})
    return {"status": response.status_code}


metered_router = Router(path="/metered", route_handlers=[site, user_by_text, v0_models])


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition `text`, 0 when there is none."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def label_values(text: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if label in sample.labels
    }


async def scrape(client: Client) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


@pytest.fixture
async def metered(probe_settings: Settings) -> AsyncIterator[Client]:
    app = create_service_app("metered", [probe_router, metered_router], probe_settings)
    async with AsyncTestClient(app) as client:
        yield client


async def test_requests_are_counted_by_route_template_method_and_status(metered: Client) -> None:
    before = await scrape(metered)
    site_ids = ("0b1c5a52-6a0e-4f39-8d5c-4d2b3c1a0e01", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")

    for site_id in site_ids:
        assert (await metered.get(f"/metered/sites/{site_id}")).status_code == 200
    assert (await metered.get("/probe/taken")).status_code == 409
    assert (await metered.get("/no/such/page-4711")).status_code == 404
    assert (await metered.delete("/probe/whoami")).status_code == 405
    assert (await metered.request("BREW", "/coffee-pot")).status_code == 404
    after = await scrape(metered)

    def counted(route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status, "service": "metered"}
        name = "sajtmaskin_http_requests_total"
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert counted("/metered/sites/{site_id}", "GET", "200") == 2
    assert counted("/probe/taken", "GET", "409") == 1
    assert counted("unmatched", "GET", "404") == 1
    assert counted("unmatched", "DELETE", "405") == 1
    assert counted("unmatched", "other", "404") == 1
    timed = "sajtmaskin_http_request_duration_seconds_count"
    template = {"route": "/metered/sites/{site_id}", "method": "GET"}
    assert metric(after, timed, **template) - metric(before, timed, **template) == 2
    # Paths, ids and callers never become label values.
    routes = label_values(after, "route")
    assert not any(site_id in route for route in routes for site_id in site_ids)
    assert not any("4711" in route for route in routes)
    assert "caller" not in {
        label
        for family in text_string_to_metric_families(after)
        for sample in family.samples
        for label in sample.labels
    }


async def test_the_rate_limiters_decisions_are_served_with_the_service_label(
    metered: Client,
) -> None:
    before = await scrape(metered)
    assert (await metered.get("/probe/whoami")).status_code == 200
    after = await scrape(metered)

    name = "sajtmaskin_rate_limit_decisions_total"
    allowed = {"policy": "reads", "outcome": "allowed", "service": "metered"}
    assert metric(after, name, **allowed) - metric(before, name, **allowed) == 1
    assert "# TYPE sajtmaskin_rate_limit_fallbacks_total counter" in after
    assert label_values(after, "service") == {"metered"}


async def test_a_query_the_database_refuses_is_counted_by_its_class(settings: Settings) -> None:
    settings = msgspec.structs.replace(
        settings, supabase_service_role_key=service_role_key(JWT_SECRET), redis_url=REDIS_URL
    )
    app = create_service_app("metered", [metered_router], settings)
    async with AsyncTestClient(app) as client:
        before = await scrape(client)
        refused = await client.get("/metered/users/not-a-uuid")
        after = await scrape(client)

    assert refused.status_code == 422
    assert refused.json()["code"] == "constraint_violated"
    name = "sajtmaskin_database_errors_total"
    assert metric(after, name, **{"class": "22"}) - metric(before, name, **{"class": "22"}) == 1


async def test_an_unreachable_data_api_is_counted_as_unavailable(settings: Settings) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = msgspec.structs.replace(
        settings,
        data_plane="postgrest",
        supabase_rest_url=f"{closed}/rest/v1",
        supabase_service_role_key=service_role_key(JWT_SECRET),
        redis_url=REDIS_URL,
    )
    app = create_service_app("metered", [metered_router], settings)
    async with AsyncTestClient(app) as client:
        before = await scrape(client)
        response = await client.get("/metered/users/not-a-uuid")
        after = await scrape(client)

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    name = "sajtmaskin_database_errors_total"
    unavailable = {"class": "unavailable"}
    assert metric(after, name, **unavailable) - metric(before, name, **unavailable) == 1
    # The Data API is an upstream too: its call failed before any answer.
    calls = "sajtmaskin_upstream_calls_total"
    failed = {"upstream": "supabase", "outcome": "network_error"}
    assert metric(after, calls, **failed) - metric(before, calls, **failed) == 1


async def test_a_database_that_cannot_be_reached_is_counted_as_unavailable(
    probe_settings: Settings,
) -> None:
    settings = msgspec.structs.replace(
        probe_settings,
        database_url=f"postgresql://authenticator@127.0.0.1:{free_port()}/postgres",
    )
    app = create_service_app("metered", [metered_router], settings)
    async with AsyncTestClient(app) as client:
        before = await scrape(client)
        response = await client.get("/metered/users/not-a-uuid")  # waits for the pool, in vain
        after = await scrape(client)

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    name = "sajtmaskin_database_errors_total"
    unavailable = {"class": "unavailable"}
    assert metric(after, name, **unavailable) - metric(before, name, **unavailable) == 1


async def test_calls_to_v0_are_counted_and_timed_by_upstream(
    probe_settings: Settings, served_v0: V0StandIn
) -> None:
    settings = msgspec.structs.replace(probe_settings, **served_v0.configuration())
    app = create_service_app("metered", [metered_router], settings)
    async with AsyncTestClient(app) as client:
        before = await scrape(client)
        answered = await client.get("/metered/v0-models")
        after = await scrape(client)

    assert answered.status_code == 200
    status = answered.json()["status"]
    outcome = "ok" if status < 400 else "client_error" if status < 500 else "server_error"
    calls = "sajtmaskin_upstream_calls_total"
    v0 = {"upstream": "v0", "outcome": outcome}
    assert metric(after, calls, **v0) - metric(before, calls, **v0) == 1
    timed = "sajtmaskin_upstream_call_duration_seconds_count"
    assert metric(after, timed, upstream="v0") - metric(before, timed, upstream="v0") == 1


async def test_an_upstream_that_cannot_be_reached_counts_as_a_network_error(
    probe_settings: Settings,
) -> None:
    settings = msgspec.structs.replace(
        probe_settings, v0_api_url=f"http://127.0.0.1:{free_port()}/v1"
    )
    app = create_service_app("metered", [metered_router], settings)
    async with AsyncTestClient(app) as client:
        before = await scrape(client)
        failed = await client.get("/metered/v0-models")
        after = await scrape(client)

    assert failed.status_code == 500
    calls = "sajtmaskin_upstream_calls_total"
    v0 = {"upstream": "v0", "outcome": "network_error"}
    assert metric(after, calls, **v0) - metric(before, calls, **v0) == 1


async def a_stream_that_breaks(request: httpx.Request) -> httpx.Response:
    """Server-Sent Events that stop half-way, the connection dropped, as a failing v0 would."""

    async def events() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        raise ConnectionResetError("v0 went away")

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events())


async def read_all(http: httpx.AsyncClient, url: str) -> None:
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        async for _ in response.aiter_lines():
            pass


async def test_a_stream_that_breaks_half_way_counts_as_a_failed_call(
    probe_settings: Settings,
) -> None:
    with serve_http(a_stream_that_breaks) as url:
        settings = msgspec.structs.replace(probe_settings, v0_api_url=f"{url}/v1")
        before = render("metered").decode()
        transport = MeasuredTransport(
            httpx.AsyncHTTPTransport(), Upstreams(upstream_urls(settings))
        )
        async with httpx.AsyncClient(transport=transport) as http:
            with pytest.raises(httpx.TransportError):
                await read_all(http, f"{url}/v1/chats/stream")
        after = render("metered").decode()

    calls = "sajtmaskin_upstream_calls_total"
    for outcome, counted in (("ok", 0), ("network_error", 1)):
        v0 = {"upstream": "v0", "outcome": outcome}
        assert metric(after, calls, **v0) - metric(before, calls, **v0) == counted


async def test_billings_calls_to_vercel_and_stripe_are_counted_by_upstream(
    probe_settings: Settings,
    database_url: str,
    key_prefix: str,
    vercel_api: VercelStandIn,
    stripe_api: FakeStripe,
) -> None:
    settings = msgspec.structs.replace(
        probe_settings,
        **vercel_api.configuration(),
        **stripe_api.configuration(),
        supabase_service_role_key=service_role_key(JWT_SECRET),
        redis_key_prefix=key_prefix,
    )
    buyer = a_user(database_url)
    stripe_api.fail_next = 1  # Stripe's client retries a 500, and each attempt is a call
    async with AsyncTestClient(create_billing(settings)) as billing:
        before = await scrape(billing)
        quoted = await billing.get(
            "/billing/domains/quote", params={"domain": "bageriet.se"}, headers=bearer(buyer)
        )
        checkout = await billing.post(
            "/billing/checkout", json={"packageId": "credits_25"}, headers=bearer(buyer)
        )
        after = await scrape(billing)

    assert quoted.status_code == 200
    assert checkout.status_code == 201

    def calls(upstream: str, outcome: str) -> float:
        name = "sajtmaskin_upstream_calls_total"
        labels = {"upstream": upstream, "outcome": outcome, "service": "billing"}
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert len(vercel_api.received) > 0
    assert calls("vercel", "ok") == len(vercel_api.received)
    assert calls("stripe", "server_error") == 1
    assert calls("stripe", "ok") == 1


def test_calls_to_one_supabase_host_are_told_apart_by_path() -> None:
    project = "https://abcdefghij.supabase.co"
    settings = Settings(supabase_url=project, jwks_url=f"{project}/auth/v1/.well-known/jwks.json")
    upstreams = Upstreams(upstream_urls(settings))

    def name(url: str) -> str:
        return upstreams.name(httpx.URL(url))

    assert name(f"{project}/rest/v1/app_projects?select=id") == "supabase"
    assert name(f"{project}/storage/v1/object/media/a/b.png") == "storage"
    assert name(f"{project}/storage/v10") == "supabase"  # a prefix is a whole path segment
    assert name(f"{project}/auth/v1/.well-known/jwks.json") == "jwks"
    assert name("https://api.v0.dev/v1/chats") == "v0"
    assert name("https://api.vercel.com/v13/deployments") == "vercel"
    assert name("https://api.stripe.com/v1/checkout/sessions") == "stripe"
    assert name("https://example.com/anything") == "other"
