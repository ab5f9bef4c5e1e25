"""GET /billing/prices and /billing/packages (anyone reads them) and GET /billing/check (whether
the caller could pay for an action now, charging nothing)."""

import uuid

import pytest

from tests.billing.conftest import BillingClient, a_funded_user, charges_of
from tests.world import a_guest, a_user, bearer


async def test_anyone_reads_the_prices(billing: BillingClient) -> None:
    response = await billing.get("/billing/prices")

    assert response.status_code == 200
    assert {
        (price["action"], price["modelTier"]): price["cost"] for price in response.json()["prices"]
    } == {
        ("audit_advanced", "standard"): 25,
        ("audit_basic", "standard"): 15,
        ("deploy", "standard"): 20,
        ("generate", "pro"): 7,
        ("generate", "standard"): 10,
        ("refine", "pro"): 4,
        ("refine", "standard"): 6,
    }


async def test_anyone_reads_the_packages_in_order(billing: BillingClient) -> None:
    response = await billing.get("/billing/packages")

    assert response.status_code == 200
    assert response.json()["packages"] == [
        {"id": "credits_10", "diamonds": 10, "amount": 4900, "currency": "sek"},
        {"id": "credits_25", "diamonds": 25, "amount": 9900, "currency": "sek"},
        {"id": "credits_50", "diamonds": 50, "amount": 17900, "currency": "sek"},
    ]


@pytest.mark.parametrize(
    ("diamonds", "query", "answer"),
    [
        (25, {"action": "generate"}, {"canProceed": True, "balance": 25, "cost": 10}),
        (
            25,
            {"action": "generate", "model": "pro"},
            {"canProceed": True, "balance": 25, "cost": 7},
        ),
        (15, {"action": "deploy"}, {"canProceed": False, "balance": 15, "cost": 20}),
        (
            15,
            {"action": "deploy", "model": "pro"},
            {"canProceed": False, "balance": 15, "cost": 20},
        ),
    ],
)
async def test_a_user_learns_the_cost_and_whether_they_can_pay_it(
    billing: BillingClient,
    database_url: str,
    diamonds: int,
    query: dict[str, str],
    answer: dict[str, object],
) -> None:
    alice = a_funded_user(database_url, diamonds)

    response = await billing.get("/billing/check", params=query, headers=bearer(alice))

    assert response.status_code == 200
    assert response.json() == answer
    assert charges_of(database_url, alice) == []


async def test_an_admin_can_always_proceed_at_no_cost(
    billing: BillingClient, database_url: str
) -> None:
    admin = a_user(database_url, tier="admin")

    response = await billing.get(
        "/billing/check", params={"action": "deploy"}, headers=bearer(admin)
    )

    assert response.json() == {"canProceed": True, "balance": 0, "cost": 0}


async def test_a_guest_may_proceed_on_its_quota_only(billing: BillingClient) -> None:
    guest = a_guest()
    body = {"action": "generate", "idempotencyKey": str(uuid.uuid4())}
    await billing.post("/billing/charges", json=body, headers=bearer(guest))

    answers = {
        action: (
            await billing.get("/billing/check", params={"action": action}, headers=bearer(guest))
        ).json()
        for action in ("generate", "refine", "deploy")
    }

    assert answers == {
        "generate": {"canProceed": False, "balance": None, "cost": 0},
        "refine": {"canProceed": True, "balance": None, "cost": 0},
        "deploy": {"canProceed": False, "balance": None, "cost": 20},
    }


async def test_checking_an_action_without_a_price_is_refused_by_name(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 10)

    response = await billing.get(
        "/billing/check", params={"action": "teleport"}, headers=bearer(alice)
    )

    assert response.status_code == 422
    assert [(error["field"], error["in"]) for error in response.json()["errors"]] == [
        ("action", "query")
    ]


async def test_an_anonymous_caller_cannot_check(billing: BillingClient) -> None:
    response = await billing.get("/billing/check", params={"action": "generate"})

    assert response.status_code == 401
