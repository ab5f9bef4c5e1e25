"""Domain orders: a price in kronor, an order paid through Stripe Checkout, and the purchase at
Vercel's registrar once it is paid.

customer price (SEK) = round(Vercel's USD price * DOMAIN_SEK_PER_USD * DOMAIN_PRICE_MARKUP),
halves rounded up.

An order moves pending_payment → paid (the Stripe webhook, in SQL) → purchasing → completed, or
→ failed → refunded (the payment returned through Stripe's refunds API). A payment that cannot
start leaves it cancelled. Everything after 'paid' is the fulfilment worker's: a lifespan
(`domain_fulfilment`) that every replica runs, woken by the webhook and otherwise polling. Each
step is a conditional update of the order's status and version (`updated_at`), so with any
number of replicas exactly one acts on an order in a given state, and a worker that dies
mid-step leaves the order for another to pick up:

- paid: claimed by setting 'purchasing', then bought with the quoted price as Vercel's
  expected price. A rate limit or a connection never made puts it back to 'paid' for the next
  pass; any other refusal or failure fails it (and refunds).
- purchasing: Vercel's order is looked at again after a backoff that grows with the order's age
  (from `follow_min_s` to `follow_max_s`), until it is completed or failed, or `deadline_s`
  after payment, which fails it. An order with no Vercel order `interrupted_s` after its
  purchase began was interrupted between the two (the process stopped): it fails, and the log
  says to check Vercel, which may have bought the domain.
- failed: refunded in full, the idempotency key naming the order and its version; a refund
  Stripe refuses is tried again every `refund_retry_s`.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
import stripe
import structlog
from litestar import Litestar

from services.billing.models.domains import (
    CURRENCY,
    DomainNotSupported,
    DomainOrderCreate,
    DomainOrderStarted,
    DomainQuote,
    DomainUnavailable,
    ProjectNotFound,
    RegistrarFailed,
    normalized_domain,
)
from services.billing.models.purchases import PaymentsNotConfigured
from services.billing.payments import CheckoutSession, Payments, Sale, log_stripe_error
from services.billing.registrar import Registrar
from services.billing.repo.domains import DomainOrderLedger, DomainOrderRepository, OrderInProgress
from shared.access import SignedInUser
from shared.config import Settings
from shared.data.plane import DataPlane
from shared.errors import Problem, ValidationFailed
from shared.identity import service_caller
from shared.vercel import VercelError
from shared.workers import keep_working

BATCH_SIZE = 20
"""Orders taken per state and pass."""

logger = structlog.stdlib.get_logger(__name__)


class Timing(msgspec.Struct, frozen=True):
    """How fulfilment paces itself (seconds)."""

    poll_s: float = 5.0
    """Between passes, unless the webhook wakes the worker."""
    follow_min_s: float = 5.0
    follow_max_s: float = 300.0
    refund_retry_s: float = 60.0
    deadline_s: float = 3600.0
    interrupted_s: float = 600.0


class DomainOrders:
    """Quotes, orders and their fulfilment; one per process."""

    def __init__(
        self,
        settings: Settings,
        payments: Payments,
        registrar: Registrar,
        data: DataPlane,
        timing: Timing | None = None,
    ) -> None:
        self._settings = settings
        self._payments = payments
        self._registrar = registrar
        self._data = data
        self._service = service_caller(settings)
        self._rate = Decimal(str(settings.domain_sek_per_usd)) * Decimal(
            str(settings.domain_price_markup)
        )
        self._wake = asyncio.Event()
        self.timing = timing or Timing()

    async def quote(self, domain: str, years: int) -> DomainQuote:
        """What `domain` costs the customer for `years`, and whether it is free to register."""
        try:
            name = normalized_domain(domain)
        except ValueError:
            raise ValidationFailed(
                f"{domain!r} is not a domain name.",
                errors=[{"field": "domain", "in": "query", "message": "Not a domain name"}],
            ) from None
        return (await self._quoted(name, years))[1]

    async def place(self, user: SignedInUser, request: DomainOrderCreate) -> DomainOrderStarted:
        """An order for one of the caller's projects at today's price, and the Checkout Session
        that pays for it. Raises `ProjectNotFound` (404), `DomainUnavailable` (409),
        `DomainNotSupported` (422), `RegistrarFailed` (502) or Stripe's problems (502/503)."""
        if not await DomainOrderRepository(self._data, user.caller).owns_project(
            request.project_id
        ):
            raise ProjectNotFound("There is no such project of yours.")
        if not self._payments.configured:
            raise PaymentsNotConfigured("Stripe is not configured (STRIPE_SECRET_KEY).")
        usd, quote = await self._quoted(request.domain, request.years)
        if not quote.available:
            raise DomainUnavailable(f"{request.domain} is not available.")
        ledger = DomainOrderLedger(self._data, self._service)
        order_id = await ledger.create(
            user_id=user.id,
            project_id=request.project_id,
            domain=quote.domain,
            years=quote.years,
            customer_price=quote.price,
            vercel_cost=int((usd * 100).to_integral_value(ROUND_HALF_UP)),
            contact=request.contact.registrant(),
        )
        app = self._settings.app_base_url.rstrip("/")
        sale = Sale(
            name=f"{quote.domain} ({quote.years} år)",
            amount=quote.price * 100,
            currency=CURRENCY.lower(),
            user_id=user.id,
            email=user.email,
            metadata={"userId": str(user.id), "domainOrderId": str(order_id)},
            success_url=f"{app}/domains?order={order_id}&success=true",
            cancel_url=f"{app}/domains?order={order_id}&canceled=true",
        )
        try:
            started = await self._payments.checkout(sale, f"domain-order:{order_id}")
        except Problem:
            await ledger.cancel(order_id, "The payment could not be started.")
            raise
        await ledger.attach_session(order_id, started.session_id)
        return DomainOrderStarted(order_id, started.session_id, started.url)

    async def record_payment(self, event_id: str, session: CheckoutSession) -> str:
        """Mark the order a paid session belongs to 'paid' (once, if the amount is its price),
        and wake the worker to buy it; the outcome of `record_domain_payment`."""
        recorded = await DomainOrderLedger(self._data, self._service).record_payment(
            event_id=event_id,
            session_id=session.id,
            amount_total=session.amount_total,
            currency=session.currency,
            payment_intent=session.payment_intent,
        )
        if recorded.outcome == "paid":
            self._wake.set()
        return recorded.outcome

    async def fulfil_due(self) -> int:
        """One pass over the orders due for a step (see the module docstring); how many this
        worker acted on. Nothing happens without VERCEL_TOKEN: paid orders wait for it."""
        if not self._registrar.configured:
            return 0
        ledger = DomainOrderLedger(self._data, self._service)
        now = datetime.now(UTC)
        acted = 0
        for order in await ledger.in_status("paid", untouched_since=None, limit=BATCH_SIZE):
            if claimed := await ledger.advance(order, {"status": "purchasing"}):
                await self._buy(ledger, claimed)
                acted += 1
        following = await ledger.in_status(
            "purchasing",
            untouched_since=now - timedelta(seconds=self.timing.follow_min_s),
            limit=BATCH_SIZE,
        )
        for order in following:
            if self._due(order, now) and (claimed := await ledger.advance(order, {})):
                await self._follow(ledger, claimed)
                acted += 1
        refunding = await ledger.in_status(
            "failed",
            untouched_since=now - timedelta(seconds=self.timing.refund_retry_s),
            limit=BATCH_SIZE,
        )
        for order in refunding:
            if claimed := await ledger.advance(order, {}):
                await self._refund(ledger, claimed)
                acted += 1
        return acted

    async def run(self, stop: asyncio.Event) -> None:
        """Fulfil orders until `stop` is set: a pass whenever the webhook records a payment,
        and every `poll_s` otherwise. A failing pass (the database away) is logged and retried."""

        async def one_pass() -> bool:
            await self.fulfil_due()
            return False

        await keep_working("domain fulfilment", one_pass, stop, self.timing.poll_s, self._wake)

    async def _quoted(self, domain: str, years: int) -> tuple[Decimal, DomainQuote]:
        """Vercel's price (USD) and the customer's quote."""
        try:
            usd, available = await asyncio.gather(
                self._registrar.price(domain, years), self._registrar.available(domain)
            )
        except VercelError as error:
            if error.refused:
                raise DomainNotSupported(
                    f"{domain} cannot be registered here ({error.code})."
                ) from None
            logger.warning("registrar quote failed", domain=domain, error=str(error))
            raise RegistrarFailed("The domain registrar did not answer; try again.") from None
        price = int((usd * self._rate).to_integral_value(ROUND_HALF_UP))
        return usd, DomainQuote(domain=domain, years=years, available=available, price=price)

    def _due(self, order: OrderInProgress, now: datetime) -> bool:
        """Whether a purchasing order should be looked at again now: the wait grows with the
        time since payment; one with no Vercel order waits out `interrupted_s`."""
        if order.order_id is None:
            wait = self.timing.interrupted_s
        else:
            age = (order.updated_at - (order.paid_at or order.updated_at)).total_seconds()
            wait = min(max(age / 2, self.timing.follow_min_s), self.timing.follow_max_s)
        return (now - order.updated_at).total_seconds() >= wait

    async def _buy(self, ledger: DomainOrderLedger, order: OrderInProgress) -> None:
        log = logger.bind(domain_order=str(order.id), domain=order.domain)
        try:
            registrar_order = await self._registrar.buy(
                order.domain,
                order.years,
                Decimal(order.vercel_cost or 0) / 100,
                order.contact or {},
            )
        except VercelError as error:
            if error.nothing_done:
                log.warning("domain purchase postponed", error=str(error))
                await ledger.advance(order, {"status": "paid"})
                return
            log.warning("domain purchase refused", error=str(error))
            await self._fail(ledger, order, f"Vercel did not register the domain: {error}")
            return
        bought = await ledger.advance(order, {"order_id": registrar_order})
        if bought is not None:
            log.info("domain purchase placed", registrar_order=registrar_order)
            await self._follow(ledger, bought)

    async def _follow(self, ledger: DomainOrderLedger, order: OrderInProgress) -> None:
        log = logger.bind(domain_order=str(order.id), domain=order.domain)
        if order.order_id is None:
            log.error("domain purchase interrupted; check Vercel whether it bought the domain")
            await self._fail(ledger, order, "The purchase was interrupted before Vercel answered.")
            return
        try:
            placed = await self._registrar.order(order.order_id)
        except VercelError as error:
            log.warning("domain order could not be followed", error=str(error))
            return
        now = datetime.now(UTC)
        if placed.status == "completed":
            await ledger.advance(order, {"status": "completed", "completed_at": now})
            log.info("domain registered")
        elif placed.status == "failed":
            reason = _registrar_reason(placed.error)
            await self._fail(ledger, order, f"Vercel could not register the domain: {reason}")
        elif order.paid_at and (now - order.paid_at).total_seconds() > self.timing.deadline_s:
            await self._fail(ledger, order, "Vercel did not finish the registration in time.")

    async def _fail(self, ledger: DomainOrderLedger, order: OrderInProgress, reason: str) -> None:
        failed = await ledger.advance(order, {"status": "failed", "failure_reason": reason})
        if failed is not None:
            await self._refund(ledger, failed)

    async def _refund(self, ledger: DomainOrderLedger, order: OrderInProgress) -> None:
        log = logger.bind(domain_order=str(order.id), domain=order.domain)
        if order.stripe_payment_intent is None:
            log.error("failed domain order has no payment to refund")
            return
        try:
            # One key per attempt (the order's version): Stripe answers a key's first result,
            # refusals included, for a day, so a retry under the same key could never succeed.
            # Two refunds cannot come of it: one worker holds a version, and Stripe refuses to
            # refund a payment twice.
            refund = await self._payments.refund(
                order.stripe_payment_intent,
                f"domain-order-refund:{order.id}:{order.updated_at.isoformat()}",
            )
        except PaymentsNotConfigured:
            log.error("failed domain order cannot be refunded: Stripe is not configured")
            return
        except stripe.StripeError as error:
            log_stripe_error("domain order refund refused; will retry", error)
            return
        await ledger.advance(order, {"status": "refunded"})
        log.info("domain order refunded", refund=refund)


@asynccontextmanager
async def domain_fulfilment(app: Litestar) -> AsyncIterator[None]:
    """A lifespan that fulfils paid domain orders in the background while the app runs; after
    the lifespan that builds `app.state.domain_orders`. On shutdown a pass under way is
    finished, not cut off between Vercel's answer and the order's update."""
    orders: DomainOrders = app.state.domain_orders
    stop = asyncio.Event()
    task = asyncio.create_task(orders.run(stop), name="domain-fulfilment")
    try:
        yield
    finally:
        stop.set()
        await task


def _registrar_reason(error: Any) -> str:
    """Vercel's `error` of a failed order, as a sentence."""
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    return str(error) if error else "no reason given"
