"""GET /billing/balance: a user's diamonds, tier and newest ledger rows; a guest's free quota."""

import uuid

from tests.billing.conftest import BillingClient, a_funded_user
from tests.world import a_guest, bearer


async def charge(billing: BillingClient, headers: dict[str, str], action: str) -> None:
    body = {"action": action, "idempotencyKey": str(uuid.uuid4())}
    assert (await billing.post("/billing/charges", json=body, headers=headers)).status_code == 201


async def test_a_user_sees_their_diamonds_tier_and_newest_transactions_first(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 40, tier="pro")
    await charge(billing, bearer(alice), "generate")

    response = await billing.get("/billing/balance", headers=bearer(alice))

    assert response.status_code == 200
    balance = response.json()
    assert (balance["kind"], balance["diamonds"], balance["tier"]) == ("user", 30, "pro")
    assert [
        (row["type"], row["amount"], row["balanceAfter"], row["action"])
        for row in balance["recentTransactions"]
    ] == [("charge", -10, 30, "generate"), ("admin_grant", 40, 40, None)]


async def test_the_balance_shows_the_ten_newest_transactions(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 120)
    for _ in range(12):
        await charge(billing, bearer(alice), "generate")

    balance = (await billing.get("/billing/balance", headers=bearer(alice))).json()

    assert balance["diamonds"] == 0
    assert [row["balanceAfter"] for row in balance["recentTransactions"]] == list(range(0, 100, 10))


async def test_a_guest_sees_its_free_quota_shrink(billing: BillingClient) -> None:
    guest = a_guest()
    fresh = (await billing.get("/billing/balance", headers=bearer(guest))).json()
    await charge(billing, bearer(guest), "generate")

    used = (await billing.get("/billing/balance", headers=bearer(guest))).json()

    assert fresh == {
        "kind": "guest",
        "generationsUsed": 0,
        "refinesUsed": 0,
        "canGenerate": True,
        "canRefine": True,
    }
    assert used == {**fresh, "generationsUsed": 1, "canGenerate": False}


async def test_an_anonymous_caller_has_no_balance(billing: BillingClient) -> None:
    response = await billing.get("/billing/balance")

    assert response.status_code == 401
