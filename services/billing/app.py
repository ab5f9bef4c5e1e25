"""The billing service as a standalone app: `sajtmaskin serve billing`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.billing.domains import DomainOrders, domain_fulfilment
from services.billing.payments import Purchases, stripe_client
from services.billing.registrar import Registrar
from services.billing.routes import router
from services.billing.wallet import Wallet
from shared.app import create_service_app
from shared.config import Settings


@asynccontextmanager
async def billing_domain(app: Litestar) -> AsyncIterator[None]:
    """Build billing's domain objects once, over the shared clients and Stripe's (so after their
    lifespans): `state.wallet` (balances, checks, charges), `state.domain_orders` (quotes,
    orders, fulfilment) and `state.purchases` (checkout and the Stripe webhook)."""
    state = app.state
    state.wallet = Wallet(state.data_plane, state.cache)
    state.domain_orders = DomainOrders(
        state.settings, state.payments, Registrar(state.settings, state.http), state.data_plane
    )
    state.purchases = Purchases(
        state.settings, state.payments, state.domain_orders, state.data_plane, state.cache
    )
    yield


# Stripe's client first (billing_domain builds on it); the domain fulfilment worker buys paid
# domains in the background, safe in every replica (orders advance by conditional updates).
LIFESPANS = (stripe_client, billing_domain, domain_fulfilment)


def create_app(settings: Settings | None = None) -> Litestar:
    """The billing service; settings from the environment unless given."""
    return create_service_app("billing", [router], settings, lifespans=LIFESPANS)
