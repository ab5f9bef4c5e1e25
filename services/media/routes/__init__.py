"""The media service's HTTP routes, all under /media, one module per resource."""

from litestar import Router

from services.media.routes import library, uploads

router = Router(path="/media", route_handlers=[uploads.router, library.router])
