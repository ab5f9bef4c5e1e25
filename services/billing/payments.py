"""Payments through Stripe: Checkout Sessions, refunds and verified webhook events (`Payments`),
and buying diamonds with them (`Purchases`).

Stripe is reached with stripe-python's `StripeClient` over its `HTTPXClient`, asynchronously, at
STRIPE_API_BASE. Every POST carries an idempotency key of ours, so a retry (the client's own, up
to `NETWORK_RETRIES`, or a person's double click) answers the first result instead of making a
second session or refund.

Checkout idempotency: the key is `checkout:{user}:{package}:{nonce}`, the nonce being a hash of
the request's `Idempotency-Key` header when the client sends one (one session per purchase
attempt the client names), else the current minute (double clicks and retries within a minute
answer the same session; a later attempt gets a fresh one, so an abandoned session never blocks
a purchase for the 24 hours Stripe keeps keys). Two sessions for one purchase are harmless in any
case: only a paid session credits, and each session at most once.

The webhook trusts nothing but the signature: the raw body is verified with
`stripe.Webhook.construct_event` (Stripe-Signature, STRIPE_WEBHOOK_SECRET, 300 s tolerance), and
a paid Checkout Session is fulfilled by one SQL function as the service role, which records the
event id, checks the amount and currency against the package and credits each session once in
one transaction. Replays, mismatches and event types we do not handle answer 200 (Stripe would
only retry them); a database that is away answers 503, so Stripe retries.
"""

import hashlib
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from uuid import UUID

import msgspec
import stripe
import structlog
from litestar import Litestar

from services.billing.models.purchases import (
    CheckoutStarted,
    InvalidSignature,
    PackageNotFound,
    PaymentProviderError,
    PaymentsNotConfigured,
    WebhookReceived,
)
from services.billing.repo.purchases import PackageRepository, PaymentLedger
from shared.access import SignedInUser
from shared.cache import USER_SESSION, Cache
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.identity import service_caller
from shared.metrics import upstream_call

if TYPE_CHECKING:
    from services.billing.domains import DomainOrders

SIGNATURE_TOLERANCE_S = 300
"""How old a signed event may be (Stripe's own default): an older one is a replay."""
NETWORK_RETRIES = 2
"""Retries of a failed call to Stripe (connection errors, 409, 5xx), each with the same key."""
PAID_SESSION_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
"""The events that can bring a paid session: a card pays at completion, a delayed method later."""
CHECKOUT_SESSION_ID = "{CHECKOUT_SESSION_ID}"
"""Stripe puts the session's id in place of this in the success URL."""

logger = structlog.stdlib.get_logger(__name__)


class Sale(msgspec.Struct, frozen=True):
    """One thing sold in one Checkout Session: `amount` in the currency's minor unit (öre),
    `metadata` (strings) comes back in the webhook."""

    name: str
    amount: int
    currency: str
    user_id: UUID
    email: str | None
    metadata: dict[str, str]
    success_url: str
    cancel_url: str


class CheckoutSession(msgspec.Struct, frozen=True):
    """The fields of Stripe's `checkout.session` object that fulfilment reads."""

    id: str
    mode: str | None = None
    payment_status: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    client_reference_id: str | None = None
    metadata: dict[str, str] | None = None
    payment_intent: str | None = None

    def meta(self, name: str) -> str | None:
        return (self.metadata or {}).get(name)


class _EventData(msgspec.Struct, frozen=True):
    object: dict[str, Any]


class StripeEvent(msgspec.Struct, frozen=True):
    """A verified Stripe event: its id (recorded, so a replay does nothing), type and object."""

    id: str
    type: str
    data: _EventData

    def paid_session(self) -> CheckoutSession | None:
        """The Checkout Session of an event that may bring a payment, when it is paid."""
        if self.type not in PAID_SESSION_EVENTS or self.data.object.get("object") != (
            "checkout.session"
        ):
            return None
        session = msgspec.convert(self.data.object, CheckoutSession, strict=False)
        return session if session.payment_status == "paid" else None


class MeasuredStripeHTTP(stripe.HTTPXClient):
    """stripe-python's httpx client, which is its own rather than the app's: each API call (each
    retry too) counted and timed as the upstream `stripe` (`shared.metrics`)."""

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        with upstream_call("stripe") as call:
            answer = await super().request_async(method, url, headers, post_data)
            call.status = answer[1]
        return answer


class Payments:
    """Stripe for this process: one client (and its connection pool), closed on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self._webhook_secret = settings.stripe_webhook_secret
        self._http: stripe.HTTPXClient | None = None
        self._stripe: stripe.StripeClient | None = None
        if settings.stripe_secret_key:
            self._http = MeasuredStripeHTTP(timeout=settings.http_timeout_s)
            self._stripe = stripe.StripeClient(
                settings.stripe_secret_key,
                base_addresses={"api": settings.stripe_api_base.rstrip("/")},
                http_client=self._http,
                max_network_retries=NETWORK_RETRIES,
            )

    @property
    def configured(self) -> bool:
        """Whether STRIPE_SECRET_KEY is set, so payments can start."""
        return self._stripe is not None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]  # stripe leaves it unannotated

    async def checkout(self, sale: Sale, idempotency_key: str) -> CheckoutStarted:
        """A Checkout Session (one-off payment) for `sale`; the same key again answers the same
        session. Raises `PaymentsNotConfigured` (503) or `PaymentProviderError` (502)."""
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": sale.currency,
                        "unit_amount": sale.amount,
                        "product_data": {"name": sale.name},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": str(sale.user_id),
            "metadata": sale.metadata,
            "success_url": sale.success_url,
            "cancel_url": sale.cancel_url,
        }
        if sale.email:
            params["customer_email"] = sale.email
        try:
            session = await self._client().v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            log_stripe_error("stripe refused a checkout session", error)
            raise PaymentProviderError("Stripe could not start the payment; try again.") from None
        if not session.url:
            raise PaymentProviderError("Stripe started a payment without a page to pay on.")
        return CheckoutStarted(session_id=session.id, url=session.url)

    async def refund(self, payment_intent: str, idempotency_key: str) -> str:
        """Refund a payment in full; the refund's id. A payment refunded before counts as
        refunded (its id is then the payment's). Raises `stripe.StripeError` otherwise."""
        try:
            refund = await self._client().v1.refunds.create_async(
                {"payment_intent": payment_intent}, {"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as error:
            if error.code == "charge_already_refunded":
                return payment_intent
            raise
        return refund.id

    def verified_event(self, payload: bytes, signature: str | None) -> StripeEvent:
        """The event, when `signature` (Stripe-Signature) proves Stripe sent exactly `payload`
        within the tolerance; `InvalidSignature` (400) otherwise."""
        if not self._webhook_secret:
            raise PaymentsNotConfigured("The Stripe webhook secret is not configured.")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, self._webhook_secret, SIGNATURE_TOLERANCE_S
            )
        except stripe.SignatureVerificationError:
            raise InvalidSignature("The Stripe signature does not match the body.") from None
        except ValueError:
            # Not UTF-8 JSON, or a v2 "thin" event, which no endpoint of ours subscribes to.
            raise InvalidSignature("The body is not a Stripe event.") from None
        try:
            return msgspec.convert(event.to_dict(), StripeEvent, strict=False)
        except msgspec.ValidationError:
            raise InvalidSignature("The body is not a Stripe event.") from None

    def _client(self) -> stripe.StripeClient:
        if self._stripe is None:
            raise PaymentsNotConfigured("Stripe is not configured (STRIPE_SECRET_KEY).")
        return self._stripe


class Purchases:
    """Diamonds for money: a Checkout Session for a package, and the webhook that credits it
    (or, for a domain order's session, records the payment for `DomainOrders`)."""

    def __init__(
        self,
        settings: Settings,
        payments: Payments,
        domain_orders: "DomainOrders",
        data: DataPlane,
        cache: Cache,
    ) -> None:
        self._settings = settings
        self._payments = payments
        self._domain_orders = domain_orders
        self._data = data
        self._cache = cache
        self._service = service_caller(settings)

    async def start_checkout(
        self, user: SignedInUser, package_id: str, client_key: str | None
    ) -> CheckoutStarted:
        """A Checkout Session for one package, for `user`; `PackageNotFound` (404) for a package
        not on sale. See the module docstring for the idempotency key."""
        package = await PackageRepository(self._data, user.caller).package(package_id)
        if package is None:
            raise PackageNotFound(f"There is no package {package_id!r} on sale.")
        nonce = (
            hashlib.sha256(client_key.encode()).hexdigest()[:32]
            if client_key
            else str(int(time.time()) // 60)
        )
        app = self._settings.app_base_url.rstrip("/")
        sale = Sale(
            name=f"{package.diamonds} diamanter",
            amount=package.amount,
            currency=package.currency,
            user_id=user.id,
            email=user.email,
            metadata={"userId": str(user.id), "packageId": package.id},
            success_url=f"{app}/buy-credits?success=true&session_id={CHECKOUT_SESSION_ID}",
            cancel_url=f"{app}/buy-credits?canceled=true&package={quote(package.id)}",
        )
        return await self._payments.checkout(sale, f"checkout:{user.id}:{package.id}:{nonce}")

    async def receive(self, payload: bytes, signature: str | None) -> WebhookReceived:
        """Act on one webhook delivery, at most once per event and per session."""
        event = self._payments.verified_event(payload, signature)
        log = logger.bind(event_id=event.id, event_type=event.type)
        session = event.paid_session()
        if session is None:
            log.info("stripe event needs nothing of us")
            return WebhookReceived("ignored")
        log = log.bind(session_id=session.id)
        if session.meta("packageId") is None:
            # Not a package: a domain order's session (matched by its id in SQL), or nothing.
            outcome = await self._domain_orders.record_payment(event.id, session)
        else:
            outcome = await self._credit(event, session)
        if outcome in {"mismatch", "unknown_user", "unknown_order"}:
            log.warning("paid checkout session not fulfilled", outcome=outcome)
        else:
            log.info("paid checkout session", outcome=outcome)
        return WebhookReceived(outcome)

    async def _credit(self, event: StripeEvent, session: CheckoutSession) -> str:
        user_id = _user_of(session)
        package_id = session.meta("packageId")
        if user_id is None or package_id is None:
            return "mismatch"
        recorded = await PaymentLedger(self._data, self._service).record_checkout_payment(
            event_id=event.id,
            event_type=event.type,
            session_id=session.id,
            user_id=user_id,
            package_id=package_id,
            amount_total=session.amount_total,
            currency=session.currency,
            payment_intent=session.payment_intent,
        )
        if recorded.outcome == "credited":
            # The cached user (diamonds, tier) is stale now: the next reader loads it afresh.
            await self._cache.invalidate(USER_SESSION.key(user_id))
        return recorded.outcome


@asynccontextmanager
async def stripe_client(app: Litestar) -> AsyncIterator[None]:
    """A lifespan giving the app its `Payments` (`app.state.payments`), whose connection pool to
    Stripe it closes on shutdown; before the lifespan that builds what uses it."""
    payments = Payments(app.state.settings)
    app.state.payments = payments
    try:
        yield
    finally:
        await payments.close()


def _user_of(session: CheckoutSession) -> UUID | None:
    """The user a package session was made for: metadata and client_reference_id, which our
    checkout sets alike, must agree."""
    named = session.meta("userId")
    if named is None or (
        session.client_reference_id is not None and session.client_reference_id != named
    ):
        return None
    try:
        return UUID(named)
    except ValueError:
        return None


def log_stripe_error(message: str, error: stripe.StripeError) -> None:
    """Log a failed call to Stripe by its kind, code, status and request id: Stripe's own
    message may quote (part of) the key or card details."""
    logger.warning(
        message,
        error=type(error).__name__,
        code=error.code,
        http_status=error.http_status,
        request_id=error.request_id,
    )
