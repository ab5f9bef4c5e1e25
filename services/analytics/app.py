"""The analytics service as a standalone app: `sajtmaskin serve analytics`."""

from litestar import Litestar

from services.analytics.routes import router
from shared.app import create_service_app
from shared.config import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The analytics service; settings from the environment unless given."""
    return create_service_app("analytics", [router], settings)
