"""The queries of buying diamonds: the package a user picks (as that user), and a paid Checkout
Session recorded (as the service role, the webhook having no user)."""

from uuid import UUID

import msgspec

from shared.data.query import Rpc, Select, eq, is_
from shared.data.repository import Repository


class PackageForSale(msgspec.Struct, frozen=True):
    """What a Checkout Session sells: `amount` in the currency's minor unit (öre)."""

    id: str
    diamonds: int
    amount: int
    currency: str


class PaymentRecorded(msgspec.Struct, frozen=True):
    """What `record_checkout_payment` did: 'credited', 'duplicate_event', 'duplicate_session',
    'mismatch' or 'unknown_user'; the balance after a credit."""

    outcome: str
    balance: int | None = None


class PackageRepository(Repository):
    """The packages on sale, as whoever asks (everyone may read them)."""

    async def package(self, package_id: str) -> PackageForSale | None:
        """The package, if it is on sale."""
        return await self.one_or_none(
            Select(
                "credit_packages",
                ("id", "diamonds", "amount", "currency"),
                (eq("id", package_id), is_("active", True)),
            ),
            PackageForSale,
        )


class PaymentLedger(Repository):
    """Paid Checkout Sessions turned into diamonds, as the service role (reviewed: Stripe's
    webhook has no user; the SQL function checks the amount against the package and credits
    each session once)."""

    async def record_checkout_payment(
        self,
        *,
        event_id: str,
        event_type: str,
        session_id: str,
        user_id: UUID,
        package_id: str,
        amount_total: int | None,
        currency: str | None,
        payment_intent: str | None,
    ) -> PaymentRecorded:
        return await self.one(
            Rpc(
                "record_checkout_payment",
                {
                    "p_event_id": event_id,
                    "p_event_type": event_type,
                    "p_session_id": session_id,
                    "p_user_id": user_id,
                    "p_package_id": package_id,
                    "p_amount_total": amount_total,
                    "p_currency": currency,
                    "p_payment_intent": payment_intent,
                },
            ),
            PaymentRecorded,
        )
