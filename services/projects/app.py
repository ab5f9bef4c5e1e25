"""The projects service as a standalone app: `sajtmaskin serve projects`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.projects.audits import Audits
from services.projects.routes import router
from services.projects.sites import Sites
from shared.app import create_service_app
from shared.config import Settings


@asynccontextmanager
async def projects_domain(app: Litestar) -> AsyncIterator[None]:
    """Build the projects service's domain objects once, over the shared clients: `state.sites`
    (sites and their saves) and `state.audits` (saved audits)."""
    state = app.state
    state.sites = Sites(state.data_plane, state.cache)
    state.audits = Audits(state.data_plane, state.cache)
    yield


LIFESPANS = (projects_domain,)


def create_app(settings: Settings | None = None) -> Litestar:
    """The projects service; settings from the environment unless given."""
    return create_service_app("projects", [router], settings, lifespans=LIFESPANS)
