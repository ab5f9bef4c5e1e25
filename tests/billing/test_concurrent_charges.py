"""Charges at once against one balance: it never goes below zero, exactly floor(balance / cost) of
them go through, each leaves a different balance behind, and the ledger still holds.

Two proofs per plane. Through the HTTP app, 200 charges sent together. At the repository (the
same `charge_credits` call the app makes), 1,000 together: on the postgres plane all at once; on
the postgrest plane at most as many in flight as the app's HTTP pool has connections, because
the rest would wait in httpx's pool, whose queue does not scale to a thousand waiters in one
process (measured here: every call then times out), which says nothing about the ledger. Either
way the database sees as many at once as its pool allows, all on one row.
"""

import asyncio
import time
import uuid
from collections import Counter

import httpx
import msgspec

from services.billing.app import create_app
from services.billing.audit import ledger_discrepancies
from services.billing.repo.wallet import WalletRepository
from shared.app import HTTP_LIMITS
from shared.config import Settings
from shared.data.plane import open_data_plane
from tests.billing.conftest import a_funded_user, charges_of, diamonds_of
from tests.serving import serving
from tests.world import Person, bearer

GENERATE = 10
DEADLINE_S = 60


def under_load(settings: Settings) -> Settings:
    """The settings for many charges from one caller on a busy 2-core machine: limits off, and
    the Data API given time (these tests are about the ledger, not latency)."""
    return msgspec.structs.replace(settings, rate_limit_enabled=False, http_timeout_s=30.0)


def the_ledger_covered(
    balance: int, person: Person, database_url: str, balances: list[int]
) -> None:
    """Exactly floor(balance / cost) charges went through, one for each balance from the first
    after a charge down to the remainder, and the user holds the remainder."""
    assert sorted(balances) == list(range(balance % GENERATE, balance, GENERATE))
    assert diamonds_of(database_url, person) == balance % GENERATE
    assert len(charges_of(database_url, person)) == balance // GENERATE


async def test_two_hundred_charges_at_once_through_the_app_take_what_the_balance_covers(
    billing_settings: Settings, database_url: str
) -> None:
    # given a user with 1,005 diamonds: a hundred generations' worth
    settings = under_load(billing_settings)
    alice = a_funded_user(database_url, 1005)

    # when two hundred generations, each under its own key, are charged at once
    started = time.monotonic()
    async with serving(create_app(settings)) as billing:
        responses = await asyncio.gather(
            *(
                billing.post(
                    "/billing/charges",
                    json={"action": "generate", "idempotencyKey": str(uuid.uuid4())},
                    headers=bearer(alice),
                )
                for _ in range(200)
            )
        )

    # then a hundred go through and a hundred are told they are short
    assert Counter(response.status_code for response in responses) == {201: 100, 402: 100}
    assert {r.json()["code"] for r in responses if r.status_code == 402} == {"insufficient_credits"}
    the_ledger_covered(
        1005, alice, database_url, [r.json()["balance"] for r in responses if r.status_code == 201]
    )
    # and the ledger holds for every user
    assert await ledger_discrepancies(settings) == []
    assert time.monotonic() - started < DEADLINE_S


async def test_a_thousand_charges_at_once_take_exactly_what_the_balance_covers(
    billing_settings: Settings, database_url: str
) -> None:
    # given a user with 5,005 diamonds: five hundred generations' worth
    settings = under_load(billing_settings)
    alice = a_funded_user(database_url, 5005)
    app_connections = HTTP_LIMITS.max_connections
    assert app_connections is not None
    in_flight = asyncio.Semaphore(app_connections if settings.data_plane == "postgrest" else 1000)

    # when a thousand generations, each under its own key, are charged together
    started = time.monotonic()
    async with httpx.AsyncClient(limits=HTTP_LIMITS, timeout=settings.http_timeout_s) as http:
        plane = await open_data_plane(settings, http)
        wallet = WalletRepository(plane, alice.caller)

        async def charge() -> tuple[str, int | None]:
            async with in_flight:
                result = await wallet.charge("generate", "standard", str(uuid.uuid4()))
            return result.outcome, result.balance

        try:
            results = await asyncio.gather(*(charge() for _ in range(1000)))
        finally:
            await plane.close()

    # then five hundred go through and five hundred find the balance short
    assert Counter(outcome for outcome, _ in results) == {"charged": 500, "insufficient": 500}
    the_ledger_covered(
        5005,
        alice,
        database_url,
        [balance for outcome, balance in results if outcome == "charged" and balance is not None],
    )
    # and the ledger holds for every user
    assert await ledger_discrepancies(settings) == []
    assert time.monotonic() - started < DEADLINE_S
