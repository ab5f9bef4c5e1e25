"""Anti-abuse limits count per client address whatever token comes along: a fresh guest token
(free to mint) or a user's token buys no more sign-ups, logins or guest sessions; mail limits
count per recipient."""

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from shared.ratelimit import POLICIES, RateLimited, RateLimiter
from tests.world import a_guest, bearer

Client = AsyncTestClient[Litestar]

REGISTRATIONS = POLICIES["register"].limit
GUEST_SESSIONS = POLICIES["guest_session"].limit


async def test_chained_guest_tokens_do_not_multiply_one_addresses_sign_ups(probe: Client) -> None:
    statuses = [
        (await probe.post("/probe/register", headers=bearer(a_guest()))).status_code
        for _ in range(REGISTRATIONS + 1)
    ]

    assert statuses == [201] * REGISTRATIONS + [429]


async def test_new_guest_sessions_are_limited_per_address_even_when_asked_as_a_guest(
    probe: Client,
) -> None:
    guest = a_guest()
    statuses = []
    for _ in range(GUEST_SESSIONS + 1):
        statuses.append((await probe.post("/probe/guest", headers=bearer(guest))).status_code)
        guest = a_guest()  # each new session's token asks for the next one

    assert statuses == [201] * GUEST_SESSIONS + [429]


async def test_anonymous_and_token_holding_requests_share_the_address_budget(
    probe: Client,
) -> None:
    for _ in range(REGISTRATIONS):
        await probe.post("/probe/register")

    response = await probe.post("/probe/register", headers=bearer(a_guest()))

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"


async def test_mail_to_one_recipient_is_limited_whoever_asks() -> None:
    limiter = RateLimiter(None)
    recipient = "sha256-of-victim@example.com"
    for _ in range(POLICIES["mail_recipient"].limit):
        await limiter.require("mail_recipient", recipient)

    with pytest.raises(RateLimited):
        await limiter.require("mail_recipient", recipient)
    assert (await limiter.hit("mail_recipient", "sha256-of-someone-else")).allowed
