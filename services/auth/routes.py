"""The auth service's HTTP routes, all under /auth."""

from litestar import Router

router = Router(path="/auth", route_handlers=[])
