"""Buying diamonds: a Stripe Checkout for a package, and Stripe's webhook that credits it.

The webhook has no user and no cookies: it is not rate limited by identity, and it reads the raw
body (never a decoded one), because Stripe's signature covers the exact bytes.
"""

from typing import Annotated, Any

from litestar import Request, Router, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody

from services.billing.models.purchases import (
    CheckoutKey,
    CheckoutRequest,
    CheckoutStarted,
    WebhookReceived,
)
from services.billing.payments import Purchases
from shared.access import SignedInUser, from_state
from shared.ratelimit import RATE_LIMIT_OPT


@post(
    "/checkout",
    status_code=201,
    opt={RATE_LIMIT_OPT: "checkout"},
    summary="Start a Stripe Checkout for a diamond package; send the browser to `url`",
)
async def checkout(
    data: JSONBody[CheckoutRequest],
    user: NamedDependency[SignedInUser],
    purchases: NamedDependency[Purchases],
    idempotency_key: Annotated[CheckoutKey | None, HeaderParameter(name="Idempotency-Key")] = None,
) -> CheckoutStarted:
    return await purchases.start_checkout(user, data.package_id, idempotency_key)


@post(
    "/stripe/webhook",
    status_code=200,
    opt={RATE_LIMIT_OPT: False},
    summary="Stripe's events (signed): a paid Checkout Session credits its package once",
)
async def stripe_webhook(
    request: Request[Any, Any, State], purchases: NamedDependency[Purchases]
) -> WebhookReceived:
    return await purchases.receive(await request.body(), request.headers.get("stripe-signature"))


router = Router(
    path="/",
    route_handlers=[checkout, stripe_webhook],
    dependencies={"purchases": from_state("purchases")},
)
