"""One rate limiter for every service: a policy per route, shared state in Redis, exact decisions.

The algorithm is GCRA (the generic cell rate algorithm, as in redis-cell): one value per key,
the "theoretical arrival time". A policy of N per window allows a burst of N and then one more
every window/N; a rejected request knows exactly when it may retry. It runs as one Lua script,
by EVALSHA (EVAL only when the server has not seen it), on Redis's own clock, on both transports.

Why not upstash-ratelimit, which the original used: it sends the whole script with EVAL on every
call, trusts the client's clock (skewed servers disagree), its scripts begin with an Upstash-only
`#!lua flags=allow-key-locking` line that stock Redis and Valkey reject, and a cost above 1 lets
the token bucket go negative. The same GCRA in Python is the in-process fallback, so a decision
without Redis follows the same rule.

When the shared store does not answer within its deadline the policy decides: `open` lets the
request through (reads, page views), `local` asks the in-process limiter (login, register,
checkout, and anything that spends money). Either is logged and counted, never a hang or a 500.

Each policy also says what it counts per (`keyed_on`):
- `caller`: the signed-in user, else the guest session, else the client address. For work a
  caller does with its identity (generate, deploy, reads).
- `client_address`: the client's address, whatever token comes with the request. For the
  anti-abuse limits (register, login, verification and reset mails, new guest sessions): a guest
  session is free to mint, so keying these on it would give one address unlimited attempts.
- `given`: an identity the service passes itself, `limiter.require(name, identity)`: the email
  tried (`login_email`) or the address a mail goes to (`mail_recipient`, hashed), so that nobody
  can guess one account's password from many addresses or mail-bomb one inbox.
"""

import functools
import ipaddress
import math
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec
import structlog
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter

from shared.errors import Problem
from shared.identity import request_caller
from shared.kv import KeyValueStore, Script, StoreUnavailable

log = structlog.stdlib.get_logger(__name__)

FALLBACKS = Counter(
    "sajtmaskin_rate_limit_fallbacks",
    "Rate-limit decisions made without the shared store",
    ["policy", "mode"],
)
DECISIONS = Counter(
    "sajtmaskin_rate_limit_decisions",
    "Rate-limit decisions by policy and outcome (failed_open: let through, store unreachable)",
    ["policy", "outcome"],
)

WhenStoreDown = Literal["open", "local"]
KeyedOn = Literal["caller", "client_address", "given"]
RATE_LIMIT_OPT = "rate_limit"  # a route's `opt` key naming its policy; False for none
LOCAL_KEYS_KEPT = 100_000


class Policy(msgspec.Struct, frozen=True):
    limit: int  # requests allowed at once, and per window on average
    window_s: int
    when_store_down: WhenStoreDown
    keyed_on: KeyedOn = "caller"


MINUTE, HOUR = 60, 3600
# SPEC §8. Routes name these with `opt={"rate_limit": "<name>"}`; unnamed routes get "reads"
# (GET, HEAD) or "default". `given` policies are for `RateLimiter.require` only.
POLICIES: Mapping[str, Policy] = {
    "register": Policy(5, 15 * MINUTE, "local", "client_address"),
    "login": Policy(20, 15 * MINUTE, "local", "client_address"),
    "login_email": Policy(20, 15 * MINUTE, "local", "given"),
    "resend_verification": Policy(6, HOUR, "local", "client_address"),
    "password_reset": Policy(6, HOUR, "local", "client_address"),
    "guest_session": Policy(10, HOUR, "local", "client_address"),
    "mail_recipient": Policy(3, HOUR, "local", "given"),
    "generate": Policy(20, MINUTE, "local"),
    "refine": Policy(30, MINUTE, "local"),
    "deploy": Policy(8, MINUTE, "local"),
    "upload": Policy(20, MINUTE, "local"),
    "page_view": Policy(60, MINUTE, "open"),
    "checkout": Policy(10, MINUTE, "local"),
    "reads": Policy(150, MINUTE, "open"),
    "default": Policy(90, MINUTE, "open"),
}

OVERRIDE = re.compile(r"(?P<name>[a-z_]+)=(?P<limit>[1-9][0-9]*)/(?P<window>[1-9][0-9]*)")
# The finest spacing of requests a policy may ask for. GCRA keeps times as epoch milliseconds in
# doubles, which resolve ~0.25 µs today: a finer interval would not move the key's time at all
# (the script once sent Redis `PX 0`, and every request failed open).
SHORTEST_INTERVAL_MS = 0.001


def configured_policies(overrides: Iterable[str]) -> Mapping[str, Policy]:
    """The policy table with `RATE_LIMITS` overrides (`name=limit/window_s`) applied."""
    policies = dict(POLICIES)
    for override in overrides:
        match = OVERRIDE.fullmatch(override)
        if match is None or match["name"] not in POLICIES:
            raise ValueError(f"RATE_LIMITS: {override!r} is not <policy>=<limit>/<seconds>")
        limit, window_s = int(match["limit"]), int(match["window"])
        if window_s * 1000 / limit < SHORTEST_INTERVAL_MS:
            raise ValueError(
                f"RATE_LIMITS: {override!r} allows more than {1 / SHORTEST_INTERVAL_MS:,.0f}"
                " requests a millisecond, finer than the limiter can count; turn limiting off"
                " with RATE_LIMIT_ENABLED=false instead"
            )
        policies[match["name"]] = msgspec.structs.replace(
            POLICIES[match["name"]], limit=limit, window_s=window_s
        )
    return policies


# KEYS[1]: the key. ARGV: limit, window (ms), cost. Returns {allowed, remaining, retry_after_ms,
# reset_ms}: reset is when the key would be back to a full burst.
GCRA = Script(
    """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local interval = window / limit
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - window
if allow_at > now then
  local remaining = math.floor((window - (tat - now)) / interval)
  return {0, remaining, math.ceil(allow_at - now), math.ceil(tat - now)}
end
local ttl = math.max(1, math.ceil(new_tat - now))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, math.floor((window - (new_tat - now)) / interval), 0, ttl}
"""
)


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int  # 0 when allowed
    reset_s: int  # until the full limit is available again
    source: Literal["shared", "local", "open"]

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimited(Problem):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class LocalLimiter:
    """GCRA in this process: the fallback when the shared store is down or not configured."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.arrivals: OrderedDict[str, float] = OrderedDict()

    def hit(self, key: str, policy: Policy, cost: int = 1) -> Decision:
        now = self.clock() * 1000
        window = policy.window_s * 1000
        interval = window / policy.limit
        tat = max(self.arrivals.get(key, now), now)
        new_tat = tat + interval * cost
        allow_at = new_tat - window
        if allow_at > now:
            return _decision(
                False, policy, (window - (tat - now)) / interval, allow_at - now, tat - now, "local"
            )
        self.arrivals[key] = new_tat
        self.arrivals.move_to_end(key)
        while len(self.arrivals) > LOCAL_KEYS_KEPT:
            self.arrivals.popitem(last=False)
        return _decision(
            True, policy, (window - (new_tat - now)) / interval, 0, new_tat - now, "local"
        )


def _decision(
    allowed: bool,
    policy: Policy,
    remaining: float,
    retry_after_ms: float,
    reset_ms: float,
    source: Any,
) -> Decision:
    return Decision(
        allowed=allowed,
        limit=policy.limit,
        remaining=max(0, math.floor(remaining)),
        retry_after_s=math.ceil(retry_after_ms / 1000),
        reset_s=math.ceil(reset_ms / 1000),
        source=source,
    )


class RateLimiter:
    """Decides whether `identity` may make one more request under `policy`."""

    def __init__(
        self,
        store: KeyValueStore | None,
        *,
        key_prefix: str = "",
        policies: Mapping[str, Policy] = POLICIES,
        local: LocalLimiter | None = None,
    ) -> None:
        self.store = store
        self.key_prefix = key_prefix
        self.policies = policies
        self.local = local or LocalLimiter()

    async def hit(self, policy_name: str, identity: str, cost: int = 1) -> Decision:
        policy = self.policies[policy_name]
        key = f"{self.key_prefix}ratelimit:{policy_name}:{identity}"
        if self.store is None:
            return _counted(policy_name, self.local.hit(key, policy, cost))
        try:
            allowed, remaining, retry_after_ms, reset_ms = await self.store.run(
                GCRA, [key], [policy.limit, policy.window_s * 1000, cost]
            )
        except StoreUnavailable as error:
            FALLBACKS.labels(policy=policy_name, mode=policy.when_store_down).inc()
            log.warning(
                "rate limit decided without the shared store",
                policy=policy_name,
                mode=policy.when_store_down,
                error=str(error),
            )
            if policy.when_store_down == "local":
                return _counted(policy_name, self.local.hit(key, policy, cost))
            _outcome(policy_name, "failed_open").inc()
            return Decision(
                allowed=True,
                limit=policy.limit,
                remaining=policy.limit - cost,
                retry_after_s=0,
                reset_s=policy.window_s,
                source="open",
            )
        return _counted(
            policy_name,
            _decision(bool(allowed), policy, remaining, retry_after_ms, reset_ms, "shared"),
        )

    async def require(self, policy_name: str, identity: str, cost: int = 1) -> Decision:
        """`hit`, raising `RateLimited` (429 with Retry-After) when the request must wait."""
        decision = await self.hit(policy_name, identity, cost)
        if not decision.allowed:
            raise RateLimited(
                f"Too many requests; try again in {decision.retry_after_s} s.",
                headers=decision.headers(),
            )
        return decision


def _counted(policy_name: str, decision: Decision) -> Decision:
    _outcome(policy_name, "allowed" if decision.allowed else "limited").inc()
    return decision


@functools.cache
def _outcome(policy_name: str, outcome: str) -> Any:
    """The counter of one policy's outcome, looked up once: decisions are on every request."""
    return DECISIONS.labels(policy=policy_name, outcome=outcome)


@functools.cache
def _networks(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parsed once per configuration, not on every request."""
    return [ipaddress.ip_network(proxy, strict=False) for proxy in proxies]


def client_address(scope: Scope, trusted_proxies: Iterable[str]) -> str:
    """The client's IP: the socket peer, unless the peer is a trusted proxy, in which case the
    nearest address in `X-Forwarded-For` that is not itself a trusted proxy."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not networks or not _within(peer, networks):
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    hops = [hop.strip() for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, networks):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class RateLimitMiddleware:
    """Applies each route's policy (its `opt["rate_limit"]`, else "reads"/"default") to what the
    policy is keyed on: the caller (the verified user, else the guest session, else the client
    address) or the client address alone. Limited requests get a 429 problem; every limited
    route's responses carry the RateLimit-* headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        settings = state.settings
        policy = _policy_of(scope)
        if scope["type"] != ScopeType.HTTP or policy is None or not settings.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        limiter: RateLimiter = state.limiter
        identity = await _identity(scope, limiter.policies[policy], settings.trusted_proxies)
        decision = await limiter.require(policy, identity)
        headers = [
            (name.lower().encode(), value.encode()) for name, value in decision.headers().items()
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _policy_of(scope: Scope) -> str | None:
    handler = scope.get("route_handler")
    named = handler.opt.get(RATE_LIMIT_OPT) if handler is not None else None
    if named is False:
        return None
    if named:
        return str(named)
    return "reads" if scope.get("method") in ("GET", "HEAD") else "default"


async def _identity(scope: Scope, policy: Policy, trusted_proxies: Iterable[str]) -> str:
    if policy.keyed_on == "given":
        raise ValueError("a policy keyed on a given identity is for RateLimiter.require only")
    if policy.keyed_on == "client_address":
        return f"ip:{client_address(scope, trusted_proxies)}"
    try:
        caller = await request_caller(Request(scope))
    except Problem:
        caller = None  # a bad token is the handler's to refuse; limit it by address meanwhile
    if caller is not None and caller.user_id is not None:
        return f"user:{caller.user_id}"
    if caller is not None and caller.guest_session is not None:
        return f"guest:{caller.guest_session}"
    return f"ip:{client_address(scope, trusted_proxies)}"
