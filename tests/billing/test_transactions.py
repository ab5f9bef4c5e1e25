"""GET /billing/transactions: a user's own ledger, newest first, a page at a time."""

import uuid

import pytest

from tests.billing.conftest import BillingClient, a_funded_user
from tests.world import a_guest, bearer


async def test_the_ledger_pages_newest_first_until_the_cursor_runs_out(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 60)
    for _ in range(6):
        body = {"action": "generate", "idempotencyKey": str(uuid.uuid4())}
        await billing.post("/billing/charges", json=body, headers=bearer(alice))

    pages = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"before": cursor} if cursor else {})}
        page = (
            await billing.get("/billing/transactions", params=params, headers=bearer(alice))
        ).json()
        pages.append([row["balanceAfter"] for row in page["transactions"]])
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert pages == [[0, 10, 20], [30, 40, 50], [60]]


async def test_a_user_never_sees_another_users_ledger(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 10)
    bob = a_funded_user(database_url, 20)

    page = (await billing.get("/billing/transactions", headers=bearer(alice))).json()

    assert [row["amount"] for row in page["transactions"]] == [10]
    assert page["nextCursor"] is None
    assert bob.user_id  # bob's grant exists, and is not in alice's ledger


async def test_guests_have_no_ledger(billing: BillingClient) -> None:
    response = await billing.get("/billing/transactions", headers=bearer(a_guest()))

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "field"), [({"before": "not-a-cursor"}, "before"), ({"limit": 0}, "limit")]
)
async def test_a_malformed_page_request_is_refused_by_name(
    billing: BillingClient, database_url: str, params: dict[str, str | int], field: str
) -> None:
    alice = a_funded_user(database_url, 10)

    response = await billing.get("/billing/transactions", params=params, headers=bearer(alice))

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
