"""POST /billing/stripe/webhook: Stripe's signed events, posted as raw bytes exactly as Stripe
delivers them, credit a paid package once per session, and nothing else credits anything."""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as redis_asyncio
import stripe
from litestar.testing import AsyncTestClient

from services.billing.app import create_app
from shared.config import Settings
from tests.billing.conftest import BillingClient, diamonds_of
from tests.conftest import plane_settings
from tests.fakes.stripe import FakeStripe
from tests.serving import serving
from tests.world import Person, a_user, bearer

WEBHOOK = "/billing/stripe/webhook"


@pytest.fixture
def shop_settings(billing_settings: Settings, stripe_api: FakeStripe) -> Settings:
    return msgspec.structs.replace(billing_settings, **stripe_api.configuration())


@pytest.fixture
async def shop(shop_settings: Settings) -> AsyncIterator[BillingClient]:
    async with AsyncTestClient(create_app(shop_settings)) as client:
        yield client


async def a_checkout(shop: httpx.AsyncClient, buyer: Person, package: str = "credits_25") -> str:
    """The id of a Checkout Session `buyer` started for `package`."""
    response = await shop.post(
        "/billing/checkout", json={"packageId": package}, headers=bearer(buyer)
    )
    assert response.status_code == 201
    return str(response.json()["sessionId"])


async def deliver(
    shop: httpx.AsyncClient, stripe_api: FakeStripe, payload: bytes, **signature: Any
) -> httpx.Response:
    return await shop.post(
        WEBHOOK, content=payload, headers=stripe_api.signed(payload, **signature)
    )


def purchases_of(database_url: str, person: Person) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        cursor = conn.execute(
            "select amount, balance_after, stripe_session_id, stripe_payment_intent"
            " from public.transactions where user_id = %s and type = 'purchase' order by seq",
            (person.user_id,),
        )
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def tier_of(database_url: str, person: Person) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select tier from public.users where id = %s", (person.user_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def recorded(database_url: str, payload: bytes) -> bool:
    """Whether the event in `payload` was recorded as handled."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select 1 from public.stripe_events where id = %s", (json.loads(payload)["id"],)
        ).fetchone()
    return row is not None


def test_the_fake_signs_events_exactly_as_stripe_does(stripe_api: FakeStripe) -> None:
    payload = stripe_api.event({"id": "cs_test_x", "object": "checkout.session"})
    timestamp = int(time.time())

    header = stripe_api.signature(payload, timestamp=timestamp)

    expected = hmac.new(
        stripe_api.webhook_secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    assert header == f"t={timestamp},v1={expected}"
    event = stripe.Webhook.construct_event(payload, header, stripe_api.webhook_secret)
    assert event.type == "checkout.session.completed"


async def test_a_paid_session_credits_its_package_and_makes_a_free_user_pro(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    session = stripe_api.pay(await a_checkout(shop, alice, "credits_25"))

    response = await deliver(shop, stripe_api, stripe_api.event(session))

    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "credited"}
    assert diamonds_of(database_url, alice) == 25
    assert tier_of(database_url, alice) == "pro"
    assert purchases_of(database_url, alice) == [
        {
            "amount": 25,
            "balance_after": 25,
            "stripe_session_id": session["id"],
            "stripe_payment_intent": session["payment_intent"],
        }
    ]


async def test_the_same_event_posted_ten_times_in_parallel_credits_once(
    shop_settings: Settings, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    async with serving(create_app(shop_settings)) as parallel:
        payload = stripe_api.event(stripe_api.pay(await a_checkout(parallel, alice, "credits_10")))

        responses = await asyncio.gather(
            *(deliver(parallel, stripe_api, payload) for _ in range(10))
        )

    assert [response.status_code for response in responses] == [200] * 10
    outcomes = sorted(response.json()["outcome"] for response in responses)
    assert outcomes == ["credited"] + ["duplicate_event"] * 9
    assert diamonds_of(database_url, alice) == 10
    assert len(purchases_of(database_url, alice)) == 1


async def test_another_event_for_a_credited_session_credits_nothing_more(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    session = stripe_api.pay(await a_checkout(shop, alice, "credits_10"))
    await deliver(shop, stripe_api, stripe_api.event(session))

    again = await deliver(
        shop,
        stripe_api,
        stripe_api.event(session, type="checkout.session.async_payment_succeeded"),
    )

    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate_session"
    assert diamonds_of(database_url, alice) == 10


@pytest.mark.parametrize("forgery", ["wrong_secret", "body_changed", "no_signature", "garbled"])
async def test_a_bad_signature_is_400_and_writes_nothing(
    forgery: str, shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    payload = stripe_api.event(stripe_api.pay(await a_checkout(shop, alice)))
    headers = stripe_api.signed(payload)
    if forgery == "wrong_secret":
        headers = stripe_api.signed(payload, secret="whsec_someone_elses")
    elif forgery == "body_changed":
        payload = payload.replace(b'"amount_total": 9900', b'"amount_total": 99')
    elif forgery == "no_signature":
        del headers["Stripe-Signature"]
    else:
        headers["Stripe-Signature"] = "t=soon,v1=whatever"

    response = await shop.post(WEBHOOK, content=payload, headers=headers)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not recorded(database_url, payload)
    assert diamonds_of(database_url, alice) == 0


async def test_a_stale_signature_is_400_and_writes_nothing(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    payload = stripe_api.event(stripe_api.pay(await a_checkout(shop, alice)))

    response = await deliver(shop, stripe_api, payload, timestamp=int(time.time()) - 301)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not recorded(database_url, payload)
    assert diamonds_of(database_url, alice) == 0


@pytest.mark.parametrize(
    "tampering",
    [
        {"amount_total": 100},
        {"currency": "usd"},
        {"metadata": {"packageId": "credits_50"}},
        {"metadata": {"packageId": "credits_none"}},
    ],
    ids=["amount", "currency", "bigger_package", "unknown_package"],
)
async def test_a_tampered_amount_or_package_credits_nothing(
    tampering: dict[str, Any], shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice = a_user(database_url)
    session = stripe_api.pay(await a_checkout(shop, alice, "credits_25"))
    if "metadata" in tampering:
        tampering = {"metadata": {**session["metadata"], **tampering["metadata"]}}
    payload = stripe_api.event({**session, **tampering})

    response = await deliver(shop, stripe_api, payload)

    assert response.status_code == 200
    assert response.json()["outcome"] == "mismatch"
    assert diamonds_of(database_url, alice) == 0
    assert tier_of(database_url, alice) == "free"


async def test_a_session_credited_to_someone_else_credits_nobody(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    session = stripe_api.pay(await a_checkout(shop, alice))
    forged = {**session, "metadata": {**session["metadata"], "userId": mallory.user_id}}

    response = await deliver(shop, stripe_api, stripe_api.event(forged))

    assert response.json()["outcome"] == "mismatch"
    assert diamonds_of(database_url, mallory) == diamonds_of(database_url, alice) == 0


@pytest.mark.parametrize(
    ("event_type", "payment_status"),
    [
        ("payment_intent.succeeded", "paid"),
        ("checkout.session.expired", "unpaid"),
        ("checkout.session.completed", "unpaid"),
    ],
)
async def test_events_that_bring_no_payment_are_acknowledged_and_change_nothing(
    event_type: str,
    payment_status: str,
    shop: BillingClient,
    stripe_api: FakeStripe,
    database_url: str,
) -> None:
    alice = a_user(database_url)
    session = {**stripe_api.pay(await a_checkout(shop, alice)), "payment_status": payment_status}

    response = await deliver(shop, stripe_api, stripe_api.event(session, type=event_type))

    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert diamonds_of(database_url, alice) == 0


async def test_an_admin_stays_admin_after_a_purchase(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    admin = a_user(database_url, tier="admin")

    await deliver(shop, stripe_api, stripe_api.event(stripe_api.pay(await a_checkout(shop, admin))))

    assert (diamonds_of(database_url, admin), tier_of(database_url, admin)) == (25, "admin")


async def test_a_credit_drops_the_buyers_cached_session(
    shop: BillingClient,
    stripe_api: FakeStripe,
    database_url: str,
    redis_inspector: redis_asyncio.Redis,
    key_prefix: str,
) -> None:
    alice = a_user(database_url)
    cached = f"{key_prefix}user:session:{alice.user_id}"
    await redis_inspector.set(cached, json.dumps({"id": alice.user_id, "diamonds": 0}))

    await deliver(shop, stripe_api, stripe_api.event(stripe_api.pay(await a_checkout(shop, alice))))

    assert await redis_inspector.exists(cached) == 0


async def test_the_webhook_is_not_rate_limited(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    payload = stripe_api.event({"id": "pi_x", "object": "payment_intent"}, "payment_intent.created")

    answers = {(await deliver(shop, stripe_api, payload)).status_code for _ in range(100)}

    assert answers == {200}


async def test_a_database_that_is_away_answers_503_so_stripe_retries(
    billing_settings: Settings,
    shop: BillingClient,
    stripe_api: FakeStripe,
    database_url: str,
    unused_tcp_port: int,
) -> None:
    alice = a_user(database_url)
    payload = stripe_api.event(stripe_api.pay(await a_checkout(shop, alice)))
    closed = f"postgresql://authenticator@127.0.0.1:{unused_tcp_port}/none"
    away = plane_settings(
        billing_settings.data_plane, closed, f"http://127.0.0.1:{unused_tcp_port}"
    )
    settings = msgspec.structs.replace(
        billing_settings,
        database_url=away.database_url,
        supabase_rest_url=away.supabase_rest_url,
        **stripe_api.configuration(),
    )

    async with serving(create_app(settings)) as unreachable:
        failed = await deliver(unreachable, stripe_api, payload)
    retried = await deliver(shop, stripe_api, payload)

    assert failed.status_code == 503
    assert retried.json()["outcome"] == "credited"
    assert diamonds_of(database_url, alice) == 25


async def test_without_a_webhook_secret_events_are_refused_with_503(
    billing: BillingClient, stripe_api: FakeStripe
) -> None:
    payload = stripe_api.event({"id": "cs_test_x", "object": "checkout.session"})

    response = await deliver(billing, stripe_api, payload)

    assert response.status_code == 503
    assert response.json()["code"] == "payments_not_configured"
