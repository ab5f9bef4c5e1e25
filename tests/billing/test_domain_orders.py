"""Domain orders: a quote in kronor from Vercel's registrar price, an order paid through Stripe
Checkout, the purchase at Vercel once the webhook says it is paid, followed to completed — or,
when the registration fails, the payment refunded through Stripe. Owners only."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from services.billing.app import create_app
from services.billing.domains import DomainOrders, Timing
from shared.config import Settings
from standins.vercel import VercelStandIn
from tests.billing.conftest import BillingClient
from tests.fakes.stripe import FakeStripe
from tests.world import Person, a_guest, a_user, bearer, sites

FAST = Timing(poll_s=0.1, follow_min_s=0.1, follow_max_s=0.2, refund_retry_s=0.2)
CONTACT = {
    "firstName": "Alice",
    "lastName": "Andersson",
    "email": "alice@bageriet.se",
    "phone": "+46701234567",
    "address1": "Storgatan 1",
    "city": "Uppsala",
    "zip": "753 20",
    "country": "SE",
}


@pytest.fixture
def registrar_settings(
    billing_settings: Settings, stripe_api: FakeStripe, vercel_api: VercelStandIn
) -> Settings:
    return msgspec.structs.replace(
        billing_settings, **stripe_api.configuration(), **vercel_api.configuration()
    )


@pytest.fixture
async def shop(registrar_settings: Settings) -> AsyncIterator[BillingClient]:
    async with AsyncTestClient(create_app(registrar_settings)) as client:
        fulfilment(client).timing = FAST
        yield client


def fulfilment(client: BillingClient) -> DomainOrders:
    orders: DomainOrders = client.app.state.domain_orders
    return orders


async def a_pass(client: BillingClient) -> int:
    """One fulfilment pass of `client`'s app, in the app's own event loop (its thread)."""
    return await asyncio.to_thread(client.blocking_portal.call, fulfilment(client).fulfil_due)


def a_domain() -> str:
    return f"bageri-{uuid.uuid4().hex[:10]}.se"


async def an_order(
    shop: BillingClient, database_url: str, owner: Person, domain: str, **fields: Any
) -> Any:
    """`owner` orders `domain` for a new project of theirs."""
    [project] = sites(database_url, owner, "Bageriet")
    body = {"projectId": project, "domain": domain, "contact": CONTACT, **fields}
    return await shop.post("/billing/domains/orders", json=body, headers=bearer(owner))


def order_row(database_url: str, order_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        cursor = conn.execute("select * from public.domain_orders where id = %s", (order_id,))
        names = [column.name for column in cursor.description or ()]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


async def eventually(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.05)


async def pay(shop: BillingClient, stripe_api: FakeStripe, session_id: str, **changes: Any) -> Any:
    """The customer pays the session, and Stripe tells the webhook."""
    payload = stripe_api.event(stripe_api.pay(session_id, **changes))
    return await shop.post(
        "/billing/stripe/webhook", content=payload, headers=stripe_api.signed(payload)
    )


async def test_a_quote_is_vercels_price_in_kronor_with_the_markup(
    shop: BillingClient, vercel_api: VercelStandIn, database_url: str
) -> None:
    vercel_api.price = "12.50"  # 12.5 USD x 11 x 3 = 412.5, rounded half up
    domain = a_domain()

    response = await shop.get(
        "/billing/domains/quote",
        params={"domain": domain.upper(), "years": 2},
        headers=bearer(a_user(database_url)),
    )

    assert response.status_code == 200
    assert response.json() == {
        "domain": domain,
        "years": 2,
        "available": True,
        "price": 413,
        "currency": "SEK",
    }
    price_request = next(r for r in vercel_api.received if r.url.path.endswith("/price"))
    assert price_request.url.params["years"] == "2"
    assert price_request.url.params["teamId"] == vercel_api.team_id


async def test_a_taken_domain_is_quoted_unavailable_and_cannot_be_ordered(
    shop: BillingClient, vercel_api: VercelStandIn, stripe_api: FakeStripe, database_url: str
) -> None:
    alice, domain = a_user(database_url), a_domain()
    vercel_api.taken.add(domain)

    quote = await shop.get(
        "/billing/domains/quote", params={"domain": domain}, headers=bearer(alice)
    )
    order = await an_order(shop, database_url, alice, domain)

    assert quote.json()["available"] is False
    assert order.status_code == 409
    assert order.json()["code"] == "domain_unavailable"
    assert stripe_api.received == []


@pytest.mark.parametrize(
    ("domain", "code"),
    [("bageriet.test", "domain_not_supported"), ("not a domain", "validation_failed")],
)
async def test_a_name_that_cannot_be_registered_is_422(
    domain: str, code: str, shop: BillingClient, database_url: str
) -> None:
    response = await shop.get(
        "/billing/domains/quote", params={"domain": domain}, headers=bearer(a_user(database_url))
    )

    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_guests_and_strangers_can_neither_quote_nor_order(shop: BillingClient) -> None:
    quote = await shop.get(
        "/billing/domains/quote", params={"domain": a_domain()}, headers=bearer(a_guest())
    )
    order = await shop.post(
        "/billing/domains/orders",
        json={"projectId": str(uuid.uuid4()), "domain": a_domain(), "contact": CONTACT},
    )

    assert quote.status_code == order.status_code == 401


async def test_ordering_starts_a_checkout_for_the_quoted_price(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice, domain = a_user(database_url), a_domain()

    response = await an_order(shop, database_url, alice, domain)

    assert response.status_code == 201
    started = response.json()
    session = stripe_api.sessions[started["sessionId"]]
    assert started["url"] == session["url"]
    assert (session["amount_total"], session["currency"]) == (41300, "sek")
    assert session["metadata"] == {"userId": alice.user_id, "domainOrderId": started["orderId"]}
    row = order_row(database_url, started["orderId"])
    assert (row["status"], row["customer_price"], row["vercel_cost"]) == (
        "pending_payment",
        413,
        1250,
    )
    assert (row["user_id"], row["domain"], row["stripe_session_id"]) == (
        uuid.UUID(alice.user_id),
        domain,
        session["id"],
    )
    assert row["contact"] == {**CONTACT, "state": "Uppsala"}


async def test_a_project_that_is_not_yours_cannot_get_a_domain(
    shop: BillingClient, stripe_api: FakeStripe, database_url: str
) -> None:
    alice, mallory = a_user(database_url), a_user(database_url)
    [project] = sites(database_url, alice, "Alice's")

    response = await shop.post(
        "/billing/domains/orders",
        json={"projectId": project, "domain": a_domain(), "contact": CONTACT},
        headers=bearer(mallory),
    )

    assert response.status_code == 404
    assert response.json()["code"] == "project_not_found"
    assert stripe_api.received == []


async def test_a_paid_order_is_bought_followed_and_completed(
    shop: BillingClient, stripe_api: FakeStripe, vercel_api: VercelStandIn, database_url: str
) -> None:
    vercel_api.purchasing_polls = 2
    alice, domain = a_user(database_url), a_domain()
    started = (await an_order(shop, database_url, alice, domain, years=2)).json()

    paid = await pay(shop, stripe_api, started["sessionId"])
    await eventually(lambda: order_row(database_url, started["orderId"])["status"] == "completed")

    assert paid.json()["outcome"] == "paid"
    row = order_row(database_url, started["orderId"])
    assert row["order_id"] in vercel_api.orders
    assert row["paid_at"] < row["completed_at"]
    assert (
        row["stripe_payment_intent"] == stripe_api.sessions[started["sessionId"]]["payment_intent"]
    )
    assert vercel_api.purchases == [
        {
            "autoRenew": True,
            "years": 2,
            "expectedPrice": 12.5,
            "contactInformation": {**CONTACT, "state": "Uppsala"},
        }
    ]
    looks = [r for r in vercel_api.received if r.url.path.startswith("/v1/registrar/orders/")]
    assert len(looks) == 3
    assert stripe_api.refunds == []


async def test_a_failed_registration_is_refunded_through_stripe(
    shop: BillingClient, stripe_api: FakeStripe, vercel_api: VercelStandIn, database_url: str
) -> None:
    vercel_api.fail_registrations = True
    started = (await an_order(shop, database_url, a_user(database_url), a_domain())).json()

    await pay(shop, stripe_api, started["sessionId"])
    await eventually(lambda: order_row(database_url, started["orderId"])["status"] == "refunded")

    intent = stripe_api.sessions[started["sessionId"]]["payment_intent"]
    assert [(refund["payment_intent"], refund["amount"]) for refund in stripe_api.refunds] == [
        (intent, 41300)
    ]
    assert (
        "The registry refused it" in order_row(database_url, started["orderId"])["failure_reason"]
    )


async def test_a_purchase_vercel_refuses_is_refunded(
    shop: BillingClient, stripe_api: FakeStripe, vercel_api: VercelStandIn, database_url: str
) -> None:
    alice, domain = a_user(database_url), a_domain()
    started = (await an_order(shop, database_url, alice, domain)).json()
    vercel_api.taken.add(domain)  # someone else registered it between order and payment

    await pay(shop, stripe_api, started["sessionId"])
    await eventually(lambda: order_row(database_url, started["orderId"])["status"] == "refunded")

    assert vercel_api.purchases == []
    assert len(stripe_api.refunds) == 1
    assert "domain_not_available" in order_row(database_url, started["orderId"])["failure_reason"]


async def test_a_refund_stripe_refuses_is_tried_again(
    shop: BillingClient, stripe_api: FakeStripe, vercel_api: VercelStandIn, database_url: str
) -> None:
    vercel_api.fail_registrations = True
    stripe_api.refuse_refunds = True
    started = (await an_order(shop, database_url, a_user(database_url), a_domain())).json()

    await pay(shop, stripe_api, started["sessionId"])
    await eventually(lambda: order_row(database_url, started["orderId"])["status"] == "failed")
    stripe_api.refuse_refunds = False
    await eventually(lambda: order_row(database_url, started["orderId"])["status"] == "refunded")

    assert len(stripe_api.refunds) == 1


async def test_a_rate_limited_purchase_is_tried_again(
    shop: BillingClient, stripe_api: FakeStripe, vercel_api: VercelStandIn, database_url: str
) -> None:
    vercel_api.rate_limit_buys = 1
    started = (await an_order(shop, database_url, a_user(database_url), a_domain())).json()

    await pay(shop, stripe_api, started["sessionId"])
    await eventually(lambda: order_row(database_url, started["orderId"])["status"] == "completed")

    buys = [r for r in vercel_api.received if r.url.path.endswith("/buy")]
    assert len(buys) == 2
    assert len(vercel_api.purchases) == 1


async def test_many_workers_buy_a_paid_domain_once(
    registrar_settings: Settings,
    shop: BillingClient,
    stripe_api: FakeStripe,
    vercel_api: VercelStandIn,
    database_url: str,
) -> None:
    started = (await an_order(shop, database_url, a_user(database_url), a_domain())).json()
    async with AsyncTestClient(create_app(registrar_settings)) as replica:
        fulfilment(replica).timing = FAST
        replicas = [shop, replica]

        await pay(shop, stripe_api, started["sessionId"])
        await asyncio.gather(*(a_pass(replicas[n % 2]) for n in range(8)))
        await eventually(
            lambda: order_row(database_url, started["orderId"])["status"] == "completed"
        )

    assert len(vercel_api.purchases) == 1


async def test_a_tampered_payment_leaves_the_order_unpaid(
    shop: BillingClient,
    stripe_api: FakeStripe,
    vercel_api: VercelStandIn,
    database_url: str,
) -> None:
    started = (await an_order(shop, database_url, a_user(database_url), a_domain())).json()

    paid = await pay(shop, stripe_api, started["sessionId"], amount_total=100)
    await a_pass(shop)

    assert paid.json()["outcome"] == "mismatch"
    assert order_row(database_url, started["orderId"])["status"] == "pending_payment"
    assert vercel_api.purchases == []


async def test_owners_read_their_orders_and_nobody_else_can(
    shop: BillingClient, database_url: str
) -> None:
    alice, bob = a_user(database_url), a_user(database_url)
    domain = a_domain()
    order_id = (await an_order(shop, database_url, alice, domain)).json()["orderId"]

    mine = await shop.get(f"/billing/domains/orders/{order_id}", headers=bearer(alice))
    listed = await shop.get("/billing/domains/orders", headers=bearer(alice))
    theirs = await shop.get(f"/billing/domains/orders/{order_id}", headers=bearer(bob))
    their_list = await shop.get("/billing/domains/orders", headers=bearer(bob))

    assert mine.status_code == 200
    assert mine.json()["domain"] == domain
    assert (mine.json()["status"], mine.json()["price"]) == ("pending_payment", 413)
    assert [order["id"] for order in listed.json()["orders"]] == [order_id]
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "domain_order_not_found"
    assert their_list.json() == {"orders": []}
