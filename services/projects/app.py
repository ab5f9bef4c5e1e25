"""The projects service as a standalone app: `sajtmaskin serve projects`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.projects.audits import Audits
from services.projects.deployer import deployments_domain
from services.projects.engine import Engine
from services.projects.generation import Generations, generation_sweeper
from services.projects.routes import router
from services.projects.sites import Sites
from shared.app import create_service_app
from shared.config import Settings


@asynccontextmanager
async def projects_domain(app: Litestar) -> AsyncIterator[None]:
    """Build the projects service's domain objects once, over the shared clients: `state.sites`
    (sites and their saves), `state.audits` (saved audits), `state.engine` (v0, on the shared
    HTTP client) and `state.generations` (paid generations through the engine)."""
    state = app.state
    state.sites = Sites(state.data_plane, state.cache)
    state.audits = Audits(state.data_plane, state.cache)
    state.engine = Engine(state.settings, state.http)
    state.generations = Generations(state.settings, state.data_plane, state.cache, state.engine)
    yield


# The sweeper refunds generations abandoned past their deadline, safe in every replica (its SQL
# skips rows another sweep holds); deployments build on `state.engine` and run their worker.
LIFESPANS = (projects_domain, generation_sweeper, deployments_domain)


def create_app(settings: Settings | None = None) -> Litestar:
    """The projects service; settings from the environment unless given."""
    return create_service_app("projects", [router], settings, lifespans=LIFESPANS)
