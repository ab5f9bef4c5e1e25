"""POST /billing/checkout: a signed-in user gets a Stripe Checkout Session for a package, made
through stripe-python against a Stripe that speaks the real wire format, once per attempt."""

import time
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.billing.app import create_app
from shared.config import Settings
from tests.billing.conftest import BillingClient
from tests.fakes.stripe import FakeStripe, form_fields
from tests.world import a_guest, a_user, bearer

APP = "https://app.sajtmaskin.example"


@pytest.fixture
async def shop(billing_settings: Settings, stripe_api: FakeStripe) -> AsyncIterator[BillingClient]:
    settings = msgspec.structs.replace(
        billing_settings, app_base_url=APP, **stripe_api.configuration()
    )
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


async def test_checkout_starts_a_stripe_session_for_the_package(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)

    response = await shop.post(
        "/billing/checkout", json={"packageId": "credits_25"}, headers=bearer(alice)
    )

    assert response.status_code == 201
    started = response.json()
    session = stripe_api.sessions[started["sessionId"]]
    assert started["url"] == session["url"]
    [request] = stripe_api.received
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"line_items[0][price_data][currency]=sek" in request.content
    assert request.headers["idempotency-key"].startswith(f"checkout:{alice.user_id}:credits_25:")
    sent = form_fields(request.content)
    assert sent["mode"] == "payment"
    assert sent["line_items"] == [
        {
            "price_data": {
                "currency": "sek",
                "unit_amount": "9900",
                "product_data": {"name": "25 diamanter"},
            },
            "quantity": "1",
        }
    ]
    assert sent["client_reference_id"] == alice.user_id
    assert sent["metadata"] == {"userId": alice.user_id, "packageId": "credits_25"}
    assert sent["customer_email"] == alice.email
    assert sent["success_url"].startswith(f"{APP}/buy-credits?success=true")
    assert "{CHECKOUT_SESSION_ID}" in sent["success_url"]
    assert sent["cancel_url"].startswith(f"{APP}/buy-credits?canceled=true")
    assert (session["amount_total"], session["currency"]) == (9900, "sek")


async def test_the_same_idempotency_key_answers_the_same_session(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    attempt = {**bearer(alice), "Idempotency-Key": str(uuid.uuid4())}

    first = await shop.post("/billing/checkout", json={"packageId": "credits_10"}, headers=attempt)
    again = await shop.post("/billing/checkout", json={"packageId": "credits_10"}, headers=attempt)
    other = await shop.post(
        "/billing/checkout",
        json={"packageId": "credits_10"},
        headers={**bearer(alice), "Idempotency-Key": str(uuid.uuid4())},
    )

    assert first.status_code == again.status_code == other.status_code == 201
    assert first.json() == again.json()
    assert other.json()["sessionId"] != first.json()["sessionId"]
    assert len(stripe_api.sessions) == 2


async def test_a_double_click_without_a_key_gets_one_session(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    minute = int(time.time()) // 60

    first = await shop.post(
        "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(alice)
    )
    again = await shop.post(
        "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(alice)
    )

    if int(time.time()) // 60 == minute:  # the key is per minute; a boundary crossed is a new one
        assert first.json() == again.json()
        assert len(stripe_api.sessions) == 1


async def test_a_failed_call_is_retried_with_the_same_key(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    stripe_api.fail_next = 1

    response = await shop.post(
        "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 201
    first, retry = stripe_api.received
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert len(stripe_api.sessions) == 1


async def test_an_unknown_package_is_404_and_stripe_is_not_asked(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    response = await shop.post(
        "/billing/checkout",
        json={"packageId": "credits_1000"},
        headers=bearer(a_user(database_url)),
    )

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_package"
    assert stripe_api.received == []


async def test_only_signed_in_users_check_out(shop: BillingClient, stripe_api: FakeStripe) -> None:
    anonymous = await shop.post("/billing/checkout", json={"packageId": "credits_10"})
    guest = await shop.post(
        "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(a_guest())
    )

    assert anonymous.status_code == guest.status_code == 401
    assert stripe_api.received == []


async def test_stripe_failing_is_502_and_never_shows_the_key(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    stripe_api.fail_next = 3  # the first call and both retries

    response = await shop.post(
        "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 502
    assert response.json()["code"] == "payment_provider_error"
    assert stripe_api.api_key not in response.text
    assert len(stripe_api.received) == 3


async def test_a_key_stripe_refuses_is_502_and_never_shown(
    billing_settings: Settings, stripe_api: FakeStripe, database_url: str
) -> None:
    settings = msgspec.structs.replace(
        billing_settings, **{**stripe_api.configuration(), "stripe_secret_key": "sk_test_revoked"}
    )
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.post(
            "/billing/checkout",
            json={"packageId": "credits_10"},
            headers=bearer(a_user(database_url)),
        )

    assert response.status_code == 502
    assert "sk_test" not in response.text


async def test_without_stripe_keys_checkout_is_503_payments_not_configured(
    billing: BillingClient, database_url: str
) -> None:
    response = await billing.post(
        "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 503
    assert response.json()["code"] == "payments_not_configured"


async def test_checkout_is_rate_limited_per_user(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)

    answers = [
        (
            await shop.post(
                "/billing/checkout", json={"packageId": "credits_10"}, headers=bearer(alice)
            )
        ).status_code
        for _ in range(11)
    ]

    assert answers == [201] * 10 + [429]
