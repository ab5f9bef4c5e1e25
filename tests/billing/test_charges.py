"""POST /billing/charges: the price is taken once per idempotency key, from a user's diamonds or a
guest's free quota, and nothing is taken that is not there."""

import asyncio
import json
import uuid

import redis.asyncio as redis_asyncio

from services.billing.app import create_app
from shared.config import Settings
from tests.billing.conftest import (
    BillingClient,
    a_funded_user,
    charges_of,
    diamonds_of,
)
from tests.serving import serving
from tests.world import a_guest, a_user, bearer


def a_charge(action: str = "generate", **fields: str) -> dict[str, str]:
    return {"action": action, "idempotencyKey": str(uuid.uuid4()), **fields}


async def test_a_charge_takes_the_price_and_writes_one_ledger_row(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 25)
    body = a_charge("generate")

    response = await billing.post("/billing/charges", json=body, headers=bearer(alice))

    assert response.status_code == 201
    charge = response.json()
    assert (charge["cost"], charge["balance"]) == (10, 15)
    assert diamonds_of(database_url, alice) == 15
    assert charges_of(database_url, alice) == [
        {
            "id": uuid.UUID(charge["chargeId"]),
            "amount": -10,
            "balance_after": 15,
            "action": "generate",
            "model_tier": "standard",
            "idempotency_key": body["idempotencyKey"],
        }
    ]


async def test_the_pro_model_has_its_own_price_and_other_tiers_pay_standard(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 100)

    pro = await billing.post(
        "/billing/charges", json=a_charge("generate", model="pro"), headers=bearer(alice)
    )
    deploy_on_pro = await billing.post(
        "/billing/charges", json=a_charge("deploy", model="pro"), headers=bearer(alice)
    )

    assert (pro.json()["cost"], deploy_on_pro.json()["cost"]) == (7, 20)
    assert [row["model_tier"] for row in charges_of(database_url, alice)] == ["pro", "standard"]


async def test_a_replayed_key_answers_the_first_charge_and_takes_nothing_more(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 25)
    body = a_charge("refine")
    first = await billing.post("/billing/charges", json=body, headers=bearer(alice))

    again = await billing.post("/billing/charges", json=body, headers=bearer(alice))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() == {**first.json(), "cost": 6, "balance": 19}
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert diamonds_of(database_url, alice) == 19
    assert len(charges_of(database_url, alice)) == 1


async def test_the_same_key_sent_at_once_charges_once(
    billing_settings: Settings, database_url: str
) -> None:
    alice = a_funded_user(database_url, 100)
    body = a_charge("deploy")

    async with serving(create_app(billing_settings)) as billing:
        responses = await asyncio.gather(
            *(billing.post("/billing/charges", json=body, headers=bearer(alice)) for _ in range(20))
        )

    assert {response.status_code for response in responses} == {201}
    assert len({json.dumps(response.json(), sort_keys=True) for response in responses}) == 1
    assert diamonds_of(database_url, alice) == 80
    assert len(charges_of(database_url, alice)) == 1


async def test_a_user_short_of_diamonds_is_told_what_it_costs_and_nothing_is_taken(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 15)

    response = await billing.post(
        "/billing/charges", json=a_charge("deploy"), headers=bearer(alice)
    )

    assert response.status_code == 402
    problem = response.json()
    assert (problem["code"], problem["required"], problem["current"]) == (
        "insufficient_credits",
        20,
        15,
    )
    assert diamonds_of(database_url, alice) == 15
    assert charges_of(database_url, alice) == []


async def test_an_admin_is_charged_nothing_but_the_charge_is_recorded(
    billing: BillingClient, database_url: str
) -> None:
    admin = a_user(database_url, tier="admin")

    response = await billing.post(
        "/billing/charges", json=a_charge("audit_advanced"), headers=bearer(admin)
    )

    assert response.status_code == 201
    assert (response.json()["cost"], response.json()["balance"]) == (0, 0)
    assert [(row["amount"], row["action"]) for row in charges_of(database_url, admin)] == [
        (0, "audit_advanced")
    ]


async def test_a_guest_has_one_free_generation_and_one_free_refine(
    billing: BillingClient, database_url: str
) -> None:
    guest = a_guest()

    generation = await billing.post(
        "/billing/charges", json=a_charge("generate"), headers=bearer(guest)
    )
    refine = await billing.post("/billing/charges", json=a_charge("refine"), headers=bearer(guest))
    second_generation = await billing.post(
        "/billing/charges", json=a_charge("generate"), headers=bearer(guest)
    )
    second_refine = await billing.post(
        "/billing/charges", json=a_charge("refine"), headers=bearer(guest)
    )

    assert (generation.status_code, refine.status_code) == (201, 201)
    assert (generation.json()["cost"], generation.json()["balance"]) == (0, None)
    assert (second_generation.status_code, second_refine.status_code) == (402, 402)
    assert {second_generation.json()["code"], second_refine.json()["code"]} == {"requires_account"}
    assert [row["action"] for row in charges_of(database_url, guest)] == ["generate", "refine"]


async def test_a_guest_replaying_its_free_generation_gets_the_same_answer(
    billing: BillingClient, database_url: str
) -> None:
    guest = a_guest()
    body = a_charge("generate")
    first = await billing.post("/billing/charges", json=body, headers=bearer(guest))

    again = await billing.post("/billing/charges", json=body, headers=bearer(guest))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len(charges_of(database_url, guest)) == 1


async def test_a_guest_must_sign_up_to_deploy(billing: BillingClient, database_url: str) -> None:
    guest = a_guest()

    response = await billing.post(
        "/billing/charges", json=a_charge("deploy"), headers=bearer(guest)
    )

    assert response.status_code == 401
    assert response.json()["code"] == "requires_account"
    assert charges_of(database_url, guest) == []


async def test_an_anonymous_caller_cannot_charge(billing: BillingClient) -> None:
    response = await billing.post("/billing/charges", json=a_charge("generate"))

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_an_action_without_a_price_is_refused_by_name(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 50)

    response = await billing.post(
        "/billing/charges", json=a_charge("teleport"), headers=bearer(alice)
    )

    assert response.status_code == 422
    assert [(error["field"], error["in"]) for error in response.json()["errors"]] == [
        ("action", "body")
    ]
    assert diamonds_of(database_url, alice) == 50


async def test_a_client_cannot_name_its_own_price_or_leave_out_the_key(
    billing: BillingClient, database_url: str
) -> None:
    alice = a_funded_user(database_url, 50)

    response = await billing.post(
        "/billing/charges", json={"action": "deploy", "cost": 0}, headers=bearer(alice)
    )

    assert response.status_code == 422
    assert sorted(error["field"] for error in response.json()["errors"]) == [
        "cost",
        "idempotencyKey",
    ]
    assert diamonds_of(database_url, alice) == 50


async def test_a_charge_drops_the_cached_user_whose_balance_it_changed(
    billing: BillingClient,
    database_url: str,
    key_prefix: str,
    redis_inspector: redis_asyncio.Redis,
) -> None:
    alice = a_funded_user(database_url, 50)
    key = f"{key_prefix}user:session:{alice.user_id}"
    await redis_inspector.set(key, json.dumps({"id": alice.user_id, "diamonds": 50}))

    await billing.post("/billing/charges", json=a_charge("generate"), headers=bearer(alice))

    assert await redis_inspector.exists(key) == 0
