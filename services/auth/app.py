"""The auth service as a standalone app: `sajtmaskin serve auth`."""

from litestar import Litestar

from services.auth.mail import mail_sender
from services.auth.routes import router
from shared.app import create_service_app
from shared.config import Settings

# Sends the email outbox in the background; safe in every replica (messages are leased).
LIFESPANS = (mail_sender,)


def create_app(settings: Settings | None = None) -> Litestar:
    """The auth service; settings from the environment unless given."""
    return create_service_app("auth", [router], settings, lifespans=LIFESPANS)
