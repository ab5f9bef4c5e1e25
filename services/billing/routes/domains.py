"""Domain orders of signed-in users: a quote, an order paid through Stripe Checkout, and the
orders as they stand (read as the caller: another user's order is a 404)."""

from typing import Annotated
from uuid import UUID

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from services.billing.domains import DomainOrders
from services.billing.models.domains import (
    DomainName,
    DomainOrder,
    DomainOrderCreate,
    DomainOrderList,
    DomainOrderStarted,
    DomainQuote,
    Years,
)
from services.billing.repo.domains import DomainOrderRepository
from shared.access import SignedInUser, as_caller, from_state
from shared.ratelimit import RATE_LIMIT_OPT


# Each quote asks Vercel twice: more than a read, less than a payment.
@get(
    "/domains/quote",
    opt={RATE_LIMIT_OPT: "default"},
    summary="What a domain costs in SEK, and whether it is available",
)
async def quote(
    user: NamedDependency[SignedInUser],
    domain_orders: NamedDependency[DomainOrders],
    domain: DomainName,
    years: Years = 1,
) -> DomainQuote:
    return await domain_orders.quote(domain, years)


@post(
    "/domains/orders",
    status_code=201,
    opt={RATE_LIMIT_OPT: "checkout"},
    summary="Order a domain for one of your projects; send the browser to `url` to pay",
)
async def place_order(
    data: JSONBody[DomainOrderCreate],
    user: NamedDependency[SignedInUser],
    domain_orders: NamedDependency[DomainOrders],
) -> DomainOrderStarted:
    return await domain_orders.place(user, data)


@get("/domains/orders", summary="Your domain orders, newest first")
async def list_orders(
    user: NamedDependency[SignedInUser],
    orders: NamedDependency[DomainOrderRepository],
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> DomainOrderList:
    return await orders.orders(limit)


@get("/domains/orders/{order_id:uuid}", summary="One of your domain orders")
async def get_order(
    order_id: FromPath[UUID],
    user: NamedDependency[SignedInUser],
    orders: NamedDependency[DomainOrderRepository],
) -> DomainOrder:
    return await orders.order(order_id)


router = Router(
    path="/",
    route_handlers=[quote, place_order, list_orders, get_order],
    dependencies={
        "orders": as_caller(DomainOrderRepository),
        "domain_orders": from_state("domain_orders"),
    },
)
