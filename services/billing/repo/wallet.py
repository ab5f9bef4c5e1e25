"""The wallet's queries: balances, the ledger, prices, packages and charges as the caller (row-level
security decides what each sees; only `charge_credits` changes a balance), and the ledger audit
as the service role."""

from uuid import UUID

import msgspec

from services.billing.models.wallet import (
    STANDARD_TIER,
    CreditPackage,
    PackageList,
    Price,
    PriceList,
    Transaction,
    TransactionPage,
)
from shared.data.query import Filter, Rpc, Select, asc, desc, eq, in_, lt
from shared.data.repository import Repository
from shared.data.rows import row_as

TRANSACTION_COLUMNS = (
    "id",
    "seq",
    "type",
    "amount",
    "balance_after",
    "description",
    "action",
    "model_tier",
    "created_at",
)


class Account(msgspec.Struct, frozen=True):
    """What a user's balance is made of."""

    diamonds: int
    tier: str

    @property
    def is_admin(self) -> bool:
        """Admins are never charged."""
        return self.tier == "admin"


class ChargeResult(msgspec.Struct, frozen=True):
    """What `charge_credits` did: 'charged', 'replayed', 'insufficient' (`required` = the cost,
    `balance` = the current balance), 'quota_exceeded', 'requires_account' or
    'unknown_action'."""

    outcome: str
    charge_id: UUID | None
    cost: int | None
    balance: int | None
    required: int | None


class Discrepancy(msgspec.Struct, frozen=True):
    """A user whose balance is not the sum of their ledger (`ledger_sum`), or with `bad_rows`
    ledger rows whose balance_after is not the running sum."""

    user_id: UUID
    diamonds: int
    ledger_sum: int
    bad_rows: int


class WalletRepository(Repository):
    """The wallet as its caller sees it: a user's own balance and ledger, a guest's own quota,
    and the prices and packages everyone may read."""

    async def account(self, user_id: UUID) -> Account | None:
        return await self.one_or_none(
            Select("users", ("diamonds", "tier"), (eq("id", user_id),)), Account
        )

    async def transactions(
        self, user_id: UUID, limit: int, before: str | None = None
    ) -> TransactionPage:
        """The user's ledger rows, newest first, `limit` at most, older than the cursor
        `before` (a row's `seq`, which orders rows as they were written)."""
        filters: tuple[Filter, ...] = (eq("user_id", user_id),)
        if before is not None:
            filters += (lt("seq", int(before)),)
        rows = await self.rows(
            Select(
                "transactions",
                TRANSACTION_COLUMNS,
                filters,
                order=(desc("seq"),),
                limit=limit + 1,
            )
        )
        page = rows[:limit]
        return TransactionPage(
            transactions=[row_as(Transaction, row) for row in page],
            next_cursor=str(page[-1]["seq"]) if len(rows) > limit else None,
        )

    async def prices(self) -> PriceList:
        rows = await self.rows(
            Select(
                "prices", ("action", "model_tier", "cost"), order=(asc("action"), asc("model_tier"))
            )
        )
        return PriceList([row_as(Price, row) for row in rows])

    async def cost(self, action: str, model_tier: str) -> int | None:
        """The price of `action` on `model_tier`, else on the standard tier (as `charge_credits`
        prices it); None when the action has no price."""
        rows = await self.rows(
            Select(
                "prices",
                ("model_tier", "cost"),
                (eq("action", action), in_("model_tier", [model_tier, STANDARD_TIER])),
            )
        )
        costs = {row["model_tier"]: row["cost"] for row in rows}
        cost: int | None = costs.get(model_tier, costs.get(STANDARD_TIER))
        return cost

    async def packages(self) -> PackageList:
        """The packages on sale, in their display order."""
        rows = await self.rows(
            Select(
                "credit_packages",
                ("id", "diamonds", "amount", "currency"),
                (eq("active", True),),
                order=(asc("sort"), asc("diamonds")),
            )
        )
        return PackageList([row_as(CreditPackage, row) for row in rows])

    async def charge(self, action: str, model_tier: str, idempotency_key: str) -> ChargeResult:
        """Charge the caller for `action` (a user's diamonds, a guest's quota), once per key; the
        price is looked up in SQL, never passed in."""
        rows = await self.rows(
            Rpc(
                "charge_credits",
                {
                    "p_action": action,
                    "p_model_tier": model_tier,
                    "p_idempotency_key": idempotency_key,
                },
            )
        )
        return row_as(ChargeResult, rows[0])


class LedgerAuditRepository(Repository):
    """The whole ledger, run as the service role: for the audit, which has no user."""

    async def discrepancies(self) -> list[Discrepancy]:
        """Every user for whom the ledger invariant fails; none when the ledger is clean."""
        rows = await self.rows(Rpc("ledger_discrepancies"))
        return [row_as(Discrepancy, row) for row in rows]
