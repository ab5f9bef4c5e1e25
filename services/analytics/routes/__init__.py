"""The analytics service's HTTP routes, all under /analytics, one module per resource."""

from litestar import Router

from services.analytics.routes import pageviews, stats

router = Router(path="/analytics", route_handlers=[pageviews.router, stats.router])
