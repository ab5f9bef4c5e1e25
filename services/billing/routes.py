"""The billing service's HTTP routes, all under /billing."""

from litestar import Router

router = Router(path="/billing", route_handlers=[])
