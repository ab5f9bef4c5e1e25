"""The media service as a standalone app: `sajtmaskin serve media`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.media.reaper import deletion_worker
from services.media.routes import router
from services.media.storage import open_storage
from services.media.uploads import Uploads
from shared.app import create_service_app
from shared.config import Settings


@asynccontextmanager
async def media_storage(app: Litestar) -> AsyncIterator[None]:
    """Open the object store once, over the shared HTTP client: `state.storage` (Supabase
    Storage when configured, else MEDIA_DIR)."""
    state = app.state
    state.storage = open_storage(state.settings, state.http)
    yield


@asynccontextmanager
async def uploads_domain(app: Litestar) -> AsyncIterator[None]:
    """`state.uploads`: storing and recording uploads, over `state.storage`."""
    state = app.state
    state.uploads = Uploads(state.settings, state.data_plane, state.storage)
    yield


# The object store first: the domain objects and workers build on `state.storage`.
LIFESPANS = (media_storage, uploads_domain, deletion_worker)


def create_app(settings: Settings | None = None) -> Litestar:
    """The media service; settings from the environment unless given."""
    return create_service_app("media", [router], settings, lifespans=LIFESPANS)
