"""The auth service as a standalone app: `sajtmaskin serve auth`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from services.auth.mail import mail_sender
from services.auth.oauth.providers import GitHub, Google
from services.auth.profiles import Profiles
from services.auth.routes import router
from services.auth.sessions import Sessions
from shared.app import create_service_app
from shared.config import Settings


@asynccontextmanager
async def auth_domain(app: Litestar) -> AsyncIterator[None]:
    """Build auth's domain objects once, over the shared clients (so after their lifespan); a
    misconfiguration (no service role key on the postgrest plane) fails the start."""
    state = app.state
    state.sessions = Sessions(state.settings, state.data_plane, state.cache, state.limiter)
    state.profiles = Profiles(state.data_plane, state.cache)
    state.google = Google(state.settings, state.http)
    state.github = GitHub(state.settings, state.http)
    yield


# The mail sender sends the email outbox in the background; safe in every replica (leased rows).
LIFESPANS = (auth_domain, mail_sender)


def create_app(settings: Settings | None = None) -> Litestar:
    """The auth service; settings from the environment unless given."""
    return create_service_app("auth", [router], settings, lifespans=LIFESPANS)
