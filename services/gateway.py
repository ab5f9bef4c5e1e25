"""Every service in one app, for local use (`sajtmaskin dev`).

One process, one lifespan and one set of shared clients; each service keeps its own path prefix,
so a client cannot tell the gateway from the services deployed one by one.
"""

from litestar import Litestar

from services import SERVICE_NAMES, load_lifespans, load_router
from shared.app import create_service_app
from shared.config import Settings


def create_gateway(settings: Settings | None = None) -> Litestar:
    return create_service_app(
        "gateway",
        [load_router(name) for name in SERVICE_NAMES],
        settings,
        lifespans=[lifespan for name in SERVICE_NAMES for lifespan in load_lifespans(name)],
    )
