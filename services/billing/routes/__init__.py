"""The billing service's HTTP routes, all under /billing, one module per resource."""

from litestar import Router

from services.billing.routes import domains, purchases, wallet

router = Router(
    path="/billing",
    route_handlers=[wallet.router, purchases.router, domains.router],
)
