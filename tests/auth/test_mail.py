"""The outbox sender: queued mail reaches Resend once, failures wait and retry, nothing is lost."""

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from psycopg.rows import dict_row

from services.auth.mail import MailSender, drain_outbox
from shared.config import Settings
from shared.data.plane import open_data_plane
from shared.logging import configure_logging
from standins.http_server import serve_http
from tests.conftest import JWT_SECRET
from tests.fakes.resend import FakeResend
from tests.tenancy import service_role_key

RESEND_KEY = "re_test_4f9a2b7c"
SENDER = "Sajtmaskin <no-reply@sajtmaskin.se>"


@pytest.fixture
def resend() -> Iterator[FakeResend]:
    fake = FakeResend(api_key=RESEND_KEY)
    with serve_http(fake) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
async def mail_settings(settings: Settings, resend: FakeResend) -> Settings:
    """The sender's settings on one data plane, with an outbox holding nothing else that is due."""
    configured = msgspec.structs.replace(
        settings,
        supabase_service_role_key=service_role_key(JWT_SECRET),
        resend_api_key=RESEND_KEY,
        resend_api_url=resend.base_url,
        email_from=SENDER,
    )
    # Mail other tests queued and left due would otherwise share these tests' Resend.
    while await drain_outbox(configured):
        pass
    resend.received.clear()
    resend.delivered.clear()
    return configured


def queue_email(database_url: str, *, html: str | None = None) -> tuple[str, str]:
    """A pending message to a new address, queued as the auth service does; (id, address)."""
    address = f"mail-{uuid.uuid4().hex[:12]}@example.com"
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "insert into public.email_outbox (to_address, subject, body_text, body_html)"
            " values (%s, %s, %s, %s) returning id",
            (address, "Bekräfta din e-post", "Öppna länken: https://sajtmaskin.se/v?t=abc", html),
        ).fetchone()
    assert row is not None
    return str(row[0]), address


def outbox_row(database_url: str, email_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "select * from public.email_outbox where id = %s", (email_id,)
        ).fetchone()
    assert row is not None
    return row


def make_due(database_url: str, email_id: str) -> None:
    """Let the backoff pass, as time would."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "update public.email_outbox set next_attempt_at = now() where id = %s", (email_id,)
        )


def requests_to(resend: FakeResend, address: str) -> list[httpx.Request]:
    return [r for r in resend.received if address in r.read().decode()]


async def test_pending_message_is_sent_through_resend(
    mail_settings: Settings, resend: FakeResend, database_url: str
) -> None:
    email_id, address = queue_email(database_url, html="<p>Öppna länken</p>")

    sent = await drain_outbox(mail_settings)

    assert sent == 1
    (request,) = resend.received
    assert request.headers["authorization"] == f"Bearer {RESEND_KEY}"
    assert request.headers["idempotency-key"] == f"email_outbox/{email_id}"
    assert msgspec.json.decode(request.content) == {
        "from": SENDER,
        "to": [address],
        "subject": "Bekräfta din e-post",
        "text": "Öppna länken: https://sajtmaskin.se/v?t=abc",
        "html": "<p>Öppna länken</p>",
    }
    row = outbox_row(database_url, email_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert row["sent_at"] is not None


async def test_resend_failing_twice_then_succeeding_delivers_on_the_third_attempt(
    mail_settings: Settings, resend: FakeResend, database_url: str
) -> None:
    email_id, address = queue_email(database_url)
    resend.fail_next = 2

    for _ in range(2):
        assert await drain_outbox(mail_settings) == 0
        failed = outbox_row(database_url, email_id)
        assert failed["status"] == "pending"
        assert "HTTP 500" in failed["last_error"]
        assert failed["next_attempt_at"] > datetime.now(UTC) + timedelta(minutes=1)
        make_due(database_url, email_id)
    sent = await drain_outbox(mail_settings)

    row = outbox_row(database_url, email_id)
    assert (sent, row["status"], row["attempts"]) == (1, "sent", 3)
    assert [body["to"] for body in resend.delivered] == [[address]]


@pytest.mark.parametrize("failure", ["rejected", "unreachable", "timeout"])
async def test_a_failed_delivery_keeps_the_message_pending_with_its_error(
    failure: str, mail_settings: Settings, resend: FakeResend, database_url: str
) -> None:
    email_id, _address = queue_email(database_url)
    if failure == "rejected":
        resend.reject = True
    elif failure == "unreachable":
        mail_settings = msgspec.structs.replace(mail_settings, resend_api_url="http://127.0.0.1:9")
    else:
        resend.delay_s = 1.0
        mail_settings = msgspec.structs.replace(mail_settings, http_timeout_s=0.2)

    sent = await drain_outbox(mail_settings)

    row = outbox_row(database_url, email_id)
    expected_error = {
        "rejected": "HTTP 422: validation_error",
        "unreachable": "ConnectError",
        "timeout": "ReadTimeout",
    }[failure]
    assert (sent, row["status"]) == (0, "pending")
    assert expected_error in row["last_error"]
    # First retry after 2 minutes (the attempt the lease counted is the first).
    assert row["next_attempt_at"] > datetime.now(UTC) + timedelta(seconds=110)


async def test_without_an_api_key_mail_is_written_to_the_log_and_marked_sent(
    mail_settings: Settings, resend: FakeResend, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("info")
    email_id, address = queue_email(database_url)

    with caplog.at_level(logging.INFO, logger="services.auth.mail"):
        sent = await drain_outbox(msgspec.structs.replace(mail_settings, resend_api_key=None))

    logged = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("to") == address
    ]
    assert sent == 1
    assert logged[0]["text"] == "Öppna länken: https://sajtmaskin.se/v?t=abc"
    assert outbox_row(database_url, email_id)["status"] == "sent"
    assert resend.received == []


async def test_two_concurrent_senders_never_send_one_message_twice(
    mail_settings: Settings, resend: FakeResend, database_url: str
) -> None:
    queued = [queue_email(database_url) for _ in range(30)]
    resend.delay_s = 0.02  # a network round trip, so both senders are mid-batch together

    async def sender() -> int:
        total = 0
        while sent := await drain_outbox(mail_settings):
            total += sent
        return total

    first, second = await asyncio.gather(sender(), sender())

    assert first + second == len(queued)
    assert all(len(requests_to(resend, address)) == 1 for _id, address in queued)


async def test_the_background_sender_delivers_queued_mail_and_stops_when_told(
    mail_settings: Settings, resend: FakeResend, database_url: str
) -> None:
    email_id, _address = queue_email(database_url)
    async with httpx.AsyncClient() as http:
        plane = await open_data_plane(mail_settings, http)
        stop = asyncio.Event()
        running = asyncio.create_task(MailSender(mail_settings, plane, http).run(stop))
        try:
            async with asyncio.timeout(5):
                while outbox_row(database_url, email_id)["status"] != "sent":
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            # Asleep between passes, it wakes for the stop instead of finishing its interval.
            await asyncio.wait_for(running, 1)
            await plane.close()
    assert len(resend.delivered) == 1
