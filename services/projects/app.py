"""The projects service as a standalone app: `sajtmaskin serve projects`."""

from litestar import Litestar

from services.projects.routes import router
from shared.app import create_service_app
from shared.config import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    """The projects service; settings from the environment unless given."""
    return create_service_app("projects", [router], settings)
