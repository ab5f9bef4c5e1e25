"""The media service as a standalone app: `sajtmaskin serve media`."""

from litestar import Litestar

from services.media.routes import router
from shared.app import create_service_app
from shared.config import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The media service; settings from the environment unless given."""
    return create_service_app("media", [router], settings)
