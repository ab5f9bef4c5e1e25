"""The limiter's decisions: exact GCRA on Redis, the same rule in process, the same on every
transport."""

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from shared.ratelimit import LocalLimiter, Policy, RateLimited, RateLimiter, configured_policies
from tests.fakes.redis_fixtures import REDIS_URL, tcp_store, upstash_store
from tests.fakes.upstash_server import UpstashServer

FIVE_A_MINUTE = {"probe": Policy(5, 60, "local")}
# These tests are about decisions, not deadlines: a store given seconds to answer decides every
# hit itself even on a machine busy with other suites (a hit past the deadline would be decided
# by the in-process fallback, from a fresh bucket). tests/ratelimit/test_faults.py covers
# deadlines.
DECISION_TIMEOUT_S = 5.0


@pytest.fixture
async def tcp_limiter() -> AsyncIterator[RateLimiter]:
    async with tcp_store(REDIS_URL, timeout_s=DECISION_TIMEOUT_S) as store:
        yield RateLimiter(store, key_prefix=f"test-{uuid.uuid4()}:", policies=FIVE_A_MINUTE)


@pytest.fixture
async def upstash_limiter(upstash_server: UpstashServer) -> AsyncIterator[RateLimiter]:
    async with upstash_store(upstash_server.url, timeout_s=DECISION_TIMEOUT_S) as store:
        yield RateLimiter(store, key_prefix=f"test-{uuid.uuid4()}:", policies=FIVE_A_MINUTE)


@pytest.fixture
def local_limiter() -> RateLimiter:
    return RateLimiter(None, policies=FIVE_A_MINUTE)


@pytest.fixture(params=["tcp", "upstash", "local"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    return request.getfixturevalue(f"{request.param}_limiter")  # type: ignore[no-any-return]


async def test_n_requests_pass_and_the_next_waits_one_interval(limiter: RateLimiter) -> None:
    decisions = [await limiter.hit("probe", "user:a") for _ in range(6)]

    assert [(d.allowed, d.remaining) for d in decisions] == [
        (True, 4),
        (True, 3),
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    # Five a minute: the next slot opens 12 s after the burst.
    assert decisions[-1].retry_after_s == 12
    assert decisions[-1].headers()["Retry-After"] == "12"


async def test_decisions_are_counted_by_policy_and_outcome(limiter: RateLimiter) -> None:
    def counted(outcome: str) -> float:
        labels = {"policy": "probe", "outcome": outcome}
        return REGISTRY.get_sample_value("sajtmaskin_rate_limit_decisions_total", labels) or 0.0

    before = counted("allowed"), counted("limited")
    for _ in range(6):
        await limiter.hit("probe", "user:counted")

    assert (counted("allowed"), counted("limited")) == (before[0] + 5, before[1] + 1)


async def test_identities_do_not_share_a_limit(limiter: RateLimiter) -> None:
    for _ in range(5):
        await limiter.hit("probe", "user:a")

    decision = await limiter.hit("probe", "user:b")

    assert (decision.allowed, decision.remaining) == (True, 4)


async def test_require_raises_a_429_problem_with_retry_after(limiter: RateLimiter) -> None:
    for _ in range(5):
        await limiter.require("probe", "ip:192.0.2.1")

    with pytest.raises(RateLimited) as raised:
        await limiter.require("probe", "ip:192.0.2.1")

    assert raised.value.status == 429
    assert raised.value.code == "rate_limited"
    assert raised.value.headers["Retry-After"] == "12"
    assert raised.value.headers["RateLimit-Remaining"] == "0"


async def test_every_transport_decides_alike(
    tcp_limiter: RateLimiter, upstash_limiter: RateLimiter, local_limiter: RateLimiter
) -> None:
    costs = [1, 1, 2, 1, 1, 1]

    decisions = {
        name: [
            (d.allowed, d.remaining, d.retry_after_s)
            for d in [await limiter.hit("probe", "user:x", cost) for cost in costs]
        ]
        for name, limiter in (
            ("tcp", tcp_limiter),
            ("upstash", upstash_limiter),
            ("local", local_limiter),
        )
    }

    assert decisions["tcp"] == decisions["upstash"] == decisions["local"]
    assert [allowed for allowed, _, _ in decisions["tcp"]] == [True, True, True, True, False, False]


def test_the_in_process_limiter_refills_with_time() -> None:
    now = [1000.0]
    limiter = LocalLimiter(clock=lambda: now[0])
    policy = Policy(5, 60, "local")
    for _ in range(5):
        limiter.hit("k", policy)
    assert not limiter.hit("k", policy).allowed

    now[0] += 12

    assert limiter.hit("k", policy).allowed


def test_rate_limits_can_be_configured() -> None:
    policies = configured_policies(["login=10/900", "reads=300/60"])

    assert (policies["login"].limit, policies["login"].window_s) == (10, 900)
    assert policies["login"].when_store_down == "local"
    assert policies["reads"].limit == 300


async def test_a_policy_finer_than_a_millisecond_still_decides_in_redis() -> None:
    # A billion a minute: each request moves the key's time by less than a double resolves.
    policies = {"flood": Policy(1_000_000_000, 60, "open")}
    async with tcp_store(REDIS_URL, timeout_s=DECISION_TIMEOUT_S) as store:
        limiter = RateLimiter(store, key_prefix=f"test-{uuid.uuid4()}:", policies=policies)
        decisions = [await limiter.hit("flood", "user:a") for _ in range(3)]

    assert [(d.allowed, d.source) for d in decisions] == [(True, "shared")] * 3


def test_a_policy_finer_than_the_limiter_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="RATE_LIMITS: 'reads=1000000000/60' allows more than"):
        configured_policies(["reads=1000000000/60"])


@pytest.mark.parametrize("override", ["login=10", "nosuch=1/60", "login=0/60", "login=ten/60"])
def test_a_malformed_rate_limit_is_refused(override: str) -> None:
    with pytest.raises(ValueError, match="RATE_LIMITS"):
        configured_policies([override])
