"""Mail: what the auth service writes to people, and the outbox sender that delivers it.

Messages are queued in `email_outbox` in the same request that decides to send them; the sender
delivers them through Resend.

Each pass leases due messages with `lease_outbound_email` (as the service role: the outbox has no
user), so concurrent senders in any number of processes never share one. A delivered message is
marked sent; a failed one stays pending with its error and a later `next_attempt_at`, so nothing
is lost. Without RESEND_API_KEY (local development) each message is written to the log instead.
Resend gets the outbox row's id as `Idempotency-Key`, so a message whose delivery succeeded but
whose "sent" mark did not is not delivered twice when its lease runs out and it is retried.
"""

import asyncio
import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import msgspec
import structlog
from litestar import Litestar

from shared.config import Settings
from shared.data.plane import DataPlane, job_clients
from shared.data.query import Rpc, Update, eq
from shared.data.rows import row_as
from shared.identity import service_caller
from shared.workers import keep_working

BATCH_SIZE = 20
POLL_INTERVAL_S = 5.0
MAX_BACKOFF = timedelta(hours=1)
# Resend's answers name the problem in a sentence; longer text is noise in the row.
ERROR_TEXT_LIMIT = 500

logger = structlog.stdlib.get_logger(__name__)


class Mail(msgspec.Struct, frozen=True):
    """A message to queue: plain text, and HTML for clients that show it."""

    to: str
    subject: str
    text: str
    html: str


def verification_mail(settings: Settings, to: str, token: str) -> Mail:
    """The link that verifies `to`; it lands on our verify route, which redirects to the app."""
    link = f"{settings.public_base_url.rstrip('/')}/auth/verify-email?{urlencode({'token': token})}"
    return Mail(
        to,
        "Bekräfta din e-postadress",
        "Välkommen till Sajtmaskin! Bekräfta din e-postadress genom att öppna länken nedan."
        f" Länken gäller i {settings.verification_ttl_s // 3600} timmar.\n\n{link}\n\n"
        "Har du inte skapat något konto kan du bortse från det här mejlet.\n",
        _html("Välkommen till Sajtmaskin!", "Bekräfta din e-postadress", link),
    )


def password_reset_mail(settings: Settings, to: str, token: str) -> Mail:
    """The one-time link to the app's page for choosing a new password."""
    link = f"{settings.app_base_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"
    return Mail(
        to,
        "Återställ ditt lösenord",
        "Öppna länken nedan för att välja ett nytt lösenord. Länken kan användas en gång och"
        f" gäller i {settings.password_reset_ttl_s // 60} minuter.\n\n{link}\n\n"
        "Har du inte bett om det kan du bortse från det här mejlet.\n",
        _html("Glömt lösenordet?", "Välj ett nytt lösenord", link),
    )


def _html(greeting: str, action: str, link: str) -> str:
    return (
        f"<p>{html.escape(greeting)}</p>"
        f'<p><a href="{html.escape(link)}">{html.escape(action)}</a></p>'
    )


class OutboundEmail(msgspec.Struct, frozen=True):
    id: str
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    attempts: int


class DeliveryFailed(Exception):
    """Resend did not accept the message; the text says why (never the API key)."""


class MailSender:
    """Sends the outbox's due messages; one per process, shared by nothing but the database."""

    def __init__(self, settings: Settings, data_plane: DataPlane, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._data = data_plane
        self._http = http
        self._service = service_caller(settings)

    async def drain_once(self, limit: int = BATCH_SIZE) -> int:
        """Lease up to `limit` due messages and try each once; returns how many were sent."""
        leased = await self._data.run(
            self._service, Rpc("lease_outbound_email", {"p_limit": limit})
        )
        messages = [row_as(OutboundEmail, row) for row in leased.rows]
        delivered = await asyncio.gather(*(self._deliver(message) for message in messages))
        return sum(delivered)

    async def run(self, stop: asyncio.Event) -> None:
        """Send due mail until `stop` is set: a full batch is followed at once by the next,
        otherwise the sender sleeps a poll interval; a failing pass (the database away) is
        retried after it."""

        async def one_pass() -> bool:
            return await self.drain_once() == BATCH_SIZE

        await keep_working("email sending", one_pass, stop, POLL_INTERVAL_S)

    async def _deliver(self, message: OutboundEmail) -> bool:
        try:
            await self._send(message)
        except DeliveryFailed as failure:
            await self._postpone(message, str(failure))
            return False
        await self._update(message, {"status": "sent", "sent_at": _now().isoformat()})
        return True

    async def _send(self, message: OutboundEmail) -> None:
        if not self._settings.resend_api_key:
            # Local development: the log is the mailbox (verification links included).
            logger.info(
                "email written to the log (no RESEND_API_KEY)",
                email_id=message.id,
                to=message.to_address,
                subject=message.subject,
                text=message.body_text,
            )
            return
        payload: dict[str, object] = {
            "from": self._settings.email_from,
            "to": [message.to_address],
            "subject": message.subject,
            "text": message.body_text,
        }
        if message.body_html is not None:
            payload["html"] = message.body_html
        try:
            response = await self._http.post(
                f"{self._settings.resend_api_url.rstrip('/')}/emails",
                json=payload,
                headers={
                    "Authorization": f"Bearer {self._settings.resend_api_key}",
                    "Idempotency-Key": f"email_outbox/{message.id}",
                },
            )
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}: {_resend_message(response)}")

    async def _postpone(self, message: OutboundEmail, error: str) -> None:
        # The lease already counted this attempt: 2, 4, 8 … minutes, at most an hour apart.
        delay = min(timedelta(minutes=2**message.attempts), MAX_BACKOFF)
        logger.warning(
            "email delivery failed; will retry",
            email_id=message.id,
            attempts=message.attempts,
            retry_in_s=int(delay.total_seconds()),
            error=error,
        )
        await self._update(
            message,
            {
                "last_error": error[:ERROR_TEXT_LIMIT],
                "next_attempt_at": (_now() + delay).isoformat(),
            },
        )

    async def _update(self, message: OutboundEmail, values: dict[str, object]) -> None:
        await self._data.run(
            self._service,
            Update("email_outbox", values, filters=(eq("id", message.id),), returning=False),
        )


async def drain_outbox(settings: Settings) -> int:
    """One sending pass with its own clients, for a CLI or a scheduled job; how many were sent."""
    async with job_clients(settings) as (plane, http):
        return await MailSender(settings, plane, http).drain_once()


@asynccontextmanager
async def mail_sender(app: Litestar) -> AsyncIterator[None]:
    """A lifespan that sends mail in the background while the app runs. It must come after the
    shared resources' lifespan, whose HTTP client and data plane it uses. On shutdown a pass
    already under way is finished, not cut off between "delivered" and "marked sent"."""
    # Made here, so a misconfiguration (no service role key) fails the start, not a task.
    sender = MailSender(app.state.settings, app.state.data_plane, app.state.http)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop), name="mail-sender")
    try:
        yield
    finally:
        stop.set()
        await task


def _resend_message(response: httpx.Response) -> str:
    """Resend's `{"statusCode", "message", "name"}` as one line, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:ERROR_TEXT_LIMIT]
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('name', 'error')}: {body['message']}"
    return response.text[:ERROR_TEXT_LIMIT]


def _now() -> datetime:
    return datetime.now(UTC)
