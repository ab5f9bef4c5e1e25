"""The services, each a package with the same few files, found by name.

Imports are lazy so that running one service loads only that service's code.
"""

import importlib
from collections.abc import Callable, Sequence

from litestar import Litestar, Router

from shared.app import Lifespan
from shared.config import Settings

SERVICE_NAMES = ("auth", "projects", "billing", "media", "analytics")

AppFactory = Callable[[Settings | None], Litestar]


def load_router(name: str) -> Router:
    """The router of service `name`, holding all its routes under `/<name>`."""
    router: Router = importlib.import_module(f"services.{_known(name)}.routes").router
    return router


def load_app_factory(name: str) -> AppFactory:
    """The `create_app(settings=None)` of service `name`."""
    factory: AppFactory = importlib.import_module(f"services.{_known(name)}.app").create_app
    return factory


def load_lifespans(name: str) -> Sequence[Lifespan]:
    """Service `name`'s own lifespans (background workers), `LIFESPANS` in its app module."""
    module = importlib.import_module(f"services.{_known(name)}.app")
    lifespans: Sequence[Lifespan] = getattr(module, "LIFESPANS", ())
    return lifespans


def app_factory_path(name: str) -> str:
    """Service `name`'s app factory as uvicorn's `module:attribute`."""
    return f"services.{_known(name)}.app:create_app"


def _known(name: str) -> str:
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; the services are {', '.join(SERVICE_NAMES)}")
    return name
