"""The analytics service as a standalone app: `sajtmaskin serve analytics`."""

from litestar import Litestar

from services.analytics.ingest import page_view_ingest
from services.analytics.routes import router
from shared.app import Lifespan, create_service_app
from shared.config import Settings

# The service's own lifespans, in order (each may build on the state of those before it): the
# page-view write buffer and its flusher (`state.ingest`).
LIFESPANS: tuple[Lifespan, ...] = (page_view_ingest,)


def create_app(settings: Settings | None = None) -> Litestar:
    """The analytics service; settings from the environment unless given."""
    return create_service_app("analytics", [router], settings, lifespans=LIFESPANS)
