"""Prometheus metrics of a service process, served at `/metrics` with the service's name.

What is counted, and where:
- requests by route template, method and status, and their latency: `shared.logging`'s
  `RequestContext`, the app's outermost layer;
- database failures by SQLSTATE class: `shared.data.failures` and `shared.problems`;
- calls to third parties (v0, Vercel, Stripe, Storage, the Data API, …) by upstream and outcome,
  and their latency: at the HTTP boundary, `MeasuredTransport` under the app's shared httpx
  client (billing's Stripe client, which brings its own, records through `upstream_call`);
- the rate limiter's decisions and fallbacks (`shared.ratelimit`) and analytics' page views.

Every label value is bounded: route templates (never paths), methods, statuses, SQLSTATE classes
and upstreams named after the settings' URLs.
"""

import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpx
from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from shared.config import Settings

# 5 ms to 10 s: a cached read takes a few milliseconds, a call to v0 seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

UNMATCHED_ROUTE = "unmatched"
"""The route of requests no route matched (404, 405): their paths are the client's to choose."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "sajtmaskin_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "sajtmaskin_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (a stream's included)",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
DATABASE_ERRORS = Counter(
    "sajtmaskin_database_errors",
    "Failed queries, by SQLSTATE class (its first two characters, PGRST for PostgREST's own"
    " codes) or `unavailable` (no connection, pool exhausted, Data API unreachable)",
    ["class"],
)
UPSTREAM_CALLS = Counter(
    "sajtmaskin_upstream_calls",
    "Calls to third-party APIs, by upstream and outcome (ok, client_error, server_error,"
    " timeout, network_error)",
    ["upstream", "outcome"],
)
UPSTREAM_DURATION = Histogram(
    "sajtmaskin_upstream_call_duration_seconds",
    "Time from sending a call to a third-party API to its response's headers",
    ["upstream"],
    buckets=LATENCY_BUCKETS,
)

_request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request; `route` is its template, or `UNMATCHED_ROUTE`."""
    # An unmatched request's method is the client's to choose, like its path.
    method = method if method in METHODS else "other"
    key = (route, method, status)
    series = _request_series.get(key)
    if series is None:
        # `labels()` takes a lock and builds a key on every call; each series is looked up once.
        series = (
            REQUESTS.labels(route, method, str(status)),
            REQUEST_DURATION.labels(route, method),
        )
        _request_series[key] = series
    counted, timed = series
    counted.inc()
    timed.observe(seconds)


def record_database_error(sqlstate_class: str) -> None:
    DATABASE_ERRORS.labels(sqlstate_class).inc()


def record_upstream_call(upstream: str, outcome: str, seconds: float) -> None:
    UPSTREAM_CALLS.labels(upstream, outcome).inc()
    UPSTREAM_DURATION.labels(upstream).observe(seconds)


def status_outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "client_error" if status < 500 else "server_error"


def failure_outcome(error: BaseException) -> str:
    """`timeout` or `network_error` for a failed call; clients that wrap httpx's errors (Stripe)
    keep them as the cause."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, httpx.TimeoutException):
            return "timeout"
        if isinstance(cause, httpx.TransportError):
            return "network_error"
        cause = cause.__cause__
    return "network_error"


class UpstreamCall:
    """One call in progress: its upstream, when it started and, once answered, its status."""

    __slots__ = ("started", "status", "upstream")

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.started = time.perf_counter()
        self.status: int | None = None


@contextmanager
def upstream_call(upstream: str) -> Iterator[UpstreamCall]:
    """Time and count one call whose client is not the shared one: set `status` when answered;
    an exception counts as the failure it is."""
    call = UpstreamCall(upstream)
    try:
        yield call
    except Exception as error:
        record_upstream_call(upstream, failure_outcome(error), time.perf_counter() - call.started)
        raise
    if call.status is not None:
        record_upstream_call(
            upstream, status_outcome(call.status), time.perf_counter() - call.started
        )


# Which third party a URL belongs to --------------------------------------------------------------


def upstream_urls(settings: Settings) -> list[tuple[str, str | None]]:
    """Each third party's base URLs as configured; on one host the longest path wins (Supabase
    serves the Data API, Storage and its JWKS from one)."""
    return [
        ("v0", settings.v0_api_url),
        ("vercel", settings.vercel_api_url),
        ("stripe", settings.stripe_api_base),
        ("storage", settings.storage_url),
        ("supabase", settings.supabase_url),
        ("supabase", settings.rest_url),
        ("jwks", settings.jwks_url),
        ("resend", settings.resend_api_url),
        ("google", settings.google_auth_url),
        ("google", settings.google_token_url),
        ("google", settings.google_userinfo_url),
        ("github", settings.github_auth_url),
        ("github", settings.github_token_url),
        ("github", settings.github_api_url),
    ]


Origin = tuple[str, str, int | None]


class Upstreams:
    """Names the third party a request goes to from its URL; `other` for any unknown."""

    OTHER = "other"

    def __init__(self, urls: Iterable[tuple[str, str | None]]) -> None:
        self._by_origin: dict[Origin, list[tuple[str, str]]] = {}
        for name, url in urls:
            if not url:
                continue
            parts = httpx.URL(url)
            prefixes = self._by_origin.setdefault((parts.scheme, parts.host, parts.port), [])
            prefixes.append((parts.path.rstrip("/"), name))
        for prefixes in self._by_origin.values():
            prefixes.sort(key=lambda entry: len(entry[0]), reverse=True)

    def name(self, url: httpx.URL) -> str:
        for prefix, name in self._by_origin.get((url.scheme, url.host, url.port), ()):
            path = url.path
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
                return name
        return self.OTHER


class MeasuredTransport(httpx.AsyncBaseTransport):
    """The app's HTTP transport, each call counted by upstream and outcome and timed to its
    response's headers. The outcome is settled when the body has been read (or has failed), so
    a stream that breaks half-way counts as the failure it is."""

    def __init__(self, transport: httpx.AsyncBaseTransport, upstreams: Upstreams) -> None:
        self._transport = transport
        self._upstreams = upstreams

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        upstream = self._upstreams.name(request.url)
        started = time.perf_counter()
        try:
            response = await self._transport.handle_async_request(request)
        except Exception as error:
            record_upstream_call(upstream, failure_outcome(error), time.perf_counter() - started)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)  # an async transport's
        response.stream = _MeasuredBody(
            response.stream, upstream, response.status_code, time.perf_counter() - started
        )
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class _MeasuredBody(httpx.AsyncByteStream):
    def __init__(
        self, stream: httpx.AsyncByteStream, upstream: str, status: int, waited_s: float
    ) -> None:
        self._stream = stream
        self._upstream = upstream
        self._waited_s = waited_s
        self._outcome: str | None = status_outcome(status)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as error:
            if self._outcome is not None:
                self._outcome = failure_outcome(error)
            raise

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._outcome is not None:
                record_upstream_call(self._upstream, self._outcome, self._waited_s)
                self._outcome = None  # closed twice, counted once


# Rendering -----------------------------------------------------------------------------------


class _ServiceLabelled(Collector):
    """Every metric of `registry` with a `service` label: one process serves one service, and its
    counters (the limiter's and analytics' too) do not each need to know which."""

    def __init__(self, registry: Collector, service: str) -> None:
        self._registry = registry
        self._service = service

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            labelled.samples = [
                sample._replace(labels={**sample.labels, "service": self._service})
                for sample in metric.samples
            ]
            yield labelled


def render(service: str) -> bytes:
    """The process's metrics in Prometheus's text format, each labelled `service`."""
    return generate_latest(_ServiceLabelled(REGISTRY, service))
