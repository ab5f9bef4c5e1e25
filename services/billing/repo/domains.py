"""The queries of domain orders: what a user reads of its own (as that user, under row-level
security), and how billing's server creates and advances them (as the service role)."""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from services.billing.models.domains import (
    CURRENCY,
    DomainOrder,
    DomainOrderList,
    DomainOrderNotFound,
)
from shared.data.query import Insert, Rpc, Select, Update, asc, desc, eq, lt
from shared.data.repository import Repository
from shared.data.rows import row_as

ORDER_COLUMNS = (
    "id",
    "project_id",
    "domain",
    "years",
    "customer_price",
    "currency",
    "status",
    "failure_reason",
    "created_at",
    "paid_at",
    "completed_at",
)
WORK_COLUMNS = (
    "id",
    "domain",
    "years",
    "vercel_cost",
    "contact",
    "status",
    "order_id",
    "stripe_payment_intent",
    "paid_at",
    "updated_at",
)
FAILURE_REASON_LIMIT = 500
"""As `domain_orders_failure_reason_length` in SQL."""


class OrderInProgress(msgspec.Struct, frozen=True):
    """An order as fulfilment sees it. `updated_at` is its version: every change of an order
    in progress is conditional on it, so two workers never both act on one state."""

    id: UUID
    domain: str
    years: int
    vercel_cost: int | None
    """What Vercel quoted, in US cents: the expected price of the purchase."""
    contact: dict[str, Any] | None
    status: str
    order_id: str | None
    """Vercel's order, once the purchase is placed."""
    stripe_payment_intent: str | None
    paid_at: datetime | None
    updated_at: datetime


class DomainPaymentRecorded(msgspec.Struct, frozen=True):
    """What `record_domain_payment` did: 'paid', 'duplicate_event', 'mismatch',
    'unknown_order' or 'already_paid'."""

    outcome: str
    order_id: UUID | None = None


class DomainOrderRepository(Repository):
    """Orders as their owner sees them, and the owner's projects, as the caller."""

    async def owns_project(self, project_id: UUID) -> bool:
        """Whether the caller sees (so owns) this app project."""
        rows = await self.rows(Select("app_projects", ("id",), (eq("id", project_id),)))
        return bool(rows)

    async def orders(self, limit: int) -> DomainOrderList:
        """The caller's orders, newest first."""
        rows = await self.rows(
            Select("domain_orders", ORDER_COLUMNS, order=(desc("created_at"),), limit=limit)
        )
        return DomainOrderList([row_as(DomainOrder, row) for row in rows])

    async def order(self, order_id: UUID) -> DomainOrder:
        """One of the caller's orders; `DomainOrderNotFound` (404) for anyone else's."""
        found = await self.one_or_none(
            Select("domain_orders", ORDER_COLUMNS, (eq("id", order_id),)), DomainOrder
        )
        if found is None:
            raise DomainOrderNotFound("There is no such domain order.")
        return found


class DomainOrderLedger(Repository):
    """Orders created and advanced by billing's server, as the service role (reviewed: users
    only read their orders; prices and status are the server's)."""

    async def create(
        self,
        *,
        user_id: UUID,
        project_id: UUID,
        domain: str,
        years: int,
        customer_price: int,
        vercel_cost: int,
        contact: dict[str, Any],
    ) -> UUID:
        """A new order awaiting payment; its id."""
        row = {
            "user_id": user_id,
            "project_id": project_id,
            "domain": domain,
            "years": years,
            "customer_price": customer_price,
            "vercel_cost": vercel_cost,
            "currency": CURRENCY,
            "contact": contact,
        }
        [created] = await self.rows(Insert("domain_orders", (row,), ("id",)))
        return UUID(created["id"])

    async def attach_session(self, order_id: UUID, session_id: str) -> None:
        """The Checkout Session that pays for the order (the webhook finds the order by it)."""
        await self.run(
            Update(
                "domain_orders",
                {"stripe_session_id": session_id},
                (eq("id", order_id), eq("status", "pending_payment")),
                returning=False,
            )
        )

    async def cancel(self, order_id: UUID, reason: str) -> None:
        """An order that can no longer be paid for."""
        await self.run(
            Update(
                "domain_orders",
                {"status": "cancelled", "failure_reason": reason[:FAILURE_REASON_LIMIT]},
                (eq("id", order_id), eq("status", "pending_payment")),
                returning=False,
            )
        )

    async def record_payment(
        self,
        *,
        event_id: str,
        session_id: str,
        amount_total: int | None,
        currency: str | None,
        payment_intent: str | None,
    ) -> DomainPaymentRecorded:
        """Mark the order of a paid session 'paid', once, if the amount is its price."""
        return await self.one(
            Rpc(
                "record_domain_payment",
                {
                    "p_event_id": event_id,
                    "p_session_id": session_id,
                    "p_amount_total": amount_total,
                    "p_currency": currency,
                    "p_payment_intent": payment_intent,
                },
            ),
            DomainPaymentRecorded,
        )

    async def in_status(
        self, status: str, *, untouched_since: datetime | None, limit: int
    ) -> list[OrderInProgress]:
        """Orders in `status`, oldest change first; only those unchanged since
        `untouched_since` when given."""
        filters = [eq("status", status)]
        if untouched_since is not None:
            filters.append(lt("updated_at", untouched_since))
        rows = await self.rows(
            Select(
                "domain_orders",
                WORK_COLUMNS,
                tuple(filters),
                order=(asc("updated_at"),),
                limit=limit,
            )
        )
        return [row_as(OrderInProgress, row) for row in rows]

    async def advance(
        self, order: OrderInProgress, values: dict[str, Any]
    ) -> OrderInProgress | None:
        """Write `values` (none: only the version moves) if the order is still exactly as
        `order` saw it (same status and version); the order after, or None when another worker
        changed it first. Every write bumps the version, so this doubles as a lease."""
        values = values or {"status": order.status}
        if "failure_reason" in values and values["failure_reason"] is not None:
            values = {**values, "failure_reason": values["failure_reason"][:FAILURE_REASON_LIMIT]}
        rows = await self.rows(
            Update(
                "domain_orders",
                values,
                (
                    eq("id", order.id),
                    eq("status", order.status),
                    eq("updated_at", order.updated_at),
                ),
                WORK_COLUMNS,
            )
        )
        return row_as(OrderInProgress, rows[0]) if rows else None
