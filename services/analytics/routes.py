"""The analytics service's HTTP routes, all under /analytics."""

from litestar import Router

router = Router(path="/analytics", route_handlers=[])
