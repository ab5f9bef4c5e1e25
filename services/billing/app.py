"""The billing service as a standalone app: `sajtmaskin serve billing`."""

from litestar import Litestar

from services.billing.routes import router
from shared.app import create_service_app
from shared.config import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The billing service; settings from the environment unless given."""
    return create_service_app("billing", [router], settings)
