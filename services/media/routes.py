"""The media service's HTTP routes, all under /media."""

from litestar import Router

router = Router(path="/media", route_handlers=[])
