"""The wallet on the wire (camelCase): balances, the ledger, prices, packages and charges, and
the problems a charge answers with."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import ValidationFailed
from shared.wire import RequestBody

STANDARD_TIER = "standard"
"""The model tier every action has a price for; other tiers fall back to it."""

RECENT_TRANSACTIONS = 10
"""How many ledger rows the balance shows."""

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ACTION_MAX = 64
MODEL_TIER_MAX = 32
CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"
ACTION_DESCRIPTION = "A priced action: generate, refine, deploy, audit_basic, audit_advanced"
MODEL_TIER_DESCRIPTION = (
    "The model tier the action runs on (standard, pro); priced as standard where the tier has "
    "no price of its own"
)

Action = Annotated[
    str, Meta(pattern=NAME_PATTERN, max_length=ACTION_MAX, description=ACTION_DESCRIPTION)
]
ModelTier = Annotated[
    str, Meta(pattern=NAME_PATTERN, max_length=MODEL_TIER_MAX, description=MODEL_TIER_DESCRIPTION)
]
IdempotencyKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        description="Chosen by the client, one per charge: the same key again is the same charge",
    ),
]


# Requests ----------------------------------------------------------------------------------------


class ChargeRequest(RequestBody):
    """Pay for one action, once per idempotency key."""

    action: Action
    idempotency_key: IdempotencyKey
    model: ModelTier = STANDARD_TIER


# Responses ---------------------------------------------------------------------------------------


class Transaction(msgspec.Struct, frozen=True, rename="camel"):
    """One ledger row: what changed the balance, by how much, and the balance after it."""

    id: UUID
    type: str
    """charge, refund, purchase, signup_bonus or admin_grant."""
    amount: int
    balance_after: int
    description: str | None
    action: str | None
    model_tier: str | None
    created_at: datetime


class UserBalance(msgspec.Struct, frozen=True, rename="camel", tag_field="kind", tag="user"):
    """A signed-in user's diamonds, tier and newest ledger rows."""

    diamonds: int
    tier: str
    recent_transactions: list[Transaction]


class TransactionPage(msgspec.Struct, frozen=True, rename="camel"):
    """Ledger rows, newest first; `nextCursor` (as `before`) fetches the older ones, None at the
    end."""

    transactions: list[Transaction]
    next_cursor: str | None


class Price(msgspec.Struct, frozen=True, rename="camel"):
    """What an action costs in diamonds on a model tier."""

    action: str
    model_tier: str
    cost: int


class PriceList(msgspec.Struct, frozen=True, rename="camel"):
    prices: list[Price]


class CreditPackage(msgspec.Struct, frozen=True, rename="camel"):
    """Diamonds for sale: `amount` in the currency's minor unit (öre for SEK)."""

    id: str
    diamonds: int
    amount: int
    currency: str


class PackageList(msgspec.Struct, frozen=True, rename="camel"):
    packages: list[CreditPackage]


class ChargeCheck(msgspec.Struct, frozen=True, rename="camel"):
    """Whether the caller could pay for an action now, its cost to them (0 for admins and for a
    guest's quota) and their balance (None for guests)."""

    can_proceed: bool
    balance: int | None
    cost: int


class Charge(msgspec.Struct, frozen=True, rename="camel"):
    """A charge made (or, for a replayed key, the one made first): its id, what it cost and the
    balance right after it (None for a guest, whose charge is its quota)."""

    charge_id: UUID
    cost: int
    balance: int | None


# Problems ----------------------------------------------------------------------------------------


def unknown_action(action: str, where: str) -> ValidationFailed:
    """422 naming `action` (in the `body` or the `query`): there is no price for it."""
    errors: list[dict[str, Any]] = [{"field": "action", "in": where, "message": "Unknown action"}]
    return ValidationFailed(f"There is no price for {action!r}.", errors=errors)
