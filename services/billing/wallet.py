"""The wallet: what people hold and what an action costs them, and charging for it.

Every charge is one call of `charge_credits` as the caller (a user pays in diamonds, a guest with
its free quota), which prices the action, checks and takes the balance and writes the ledger row
in one statement, once per idempotency key. Whatever changes a user's balance drops their
`user:session:{id}` entry, so no service shows a balance the ledger has left behind.
"""

from uuid import UUID

import msgspec

from services.billing.models.wallet import (
    RECENT_TRANSACTIONS,
    Charge,
    ChargeCheck,
    ChargeRequest,
    UserBalance,
    unknown_action,
)
from services.billing.repo.wallet import WalletRepository
from shared.access import Owner
from shared.cache import USER_SESSION, Cache
from shared.charges import refused_charge
from shared.data.plane import DataPlane
from shared.errors import SessionEnded
from shared.guest_quota import GUEST_ACTIONS, GuestQuota, GuestQuotaRepository


class ChargeMade(msgspec.Struct, frozen=True):
    """A charge, and whether it was made by an earlier request with the same key."""

    charge: Charge
    replayed: bool


class Wallet:
    """Balances, checks and charges, each as its caller; one per process."""

    def __init__(self, data: DataPlane, cache: Cache) -> None:
        self._data = data
        self._cache = cache

    async def balance(self, owner: Owner) -> UserBalance | GuestQuota:
        """A user's diamonds, tier and newest ledger rows; a guest's quota."""
        wallet = WalletRepository(self._data, owner.caller)
        if owner.user_id is None:
            return await GuestQuotaRepository(self._data, owner.caller).quota(
                owner.guest_session or ""
            )
        account = await wallet.account(owner.user_id)
        if account is None:
            raise SessionEnded("This account no longer exists.")
        recent = await wallet.transactions(owner.user_id, RECENT_TRANSACTIONS)
        return UserBalance(account.diamonds, account.tier, recent.transactions)

    async def check(self, owner: Owner, action: str, model_tier: str) -> ChargeCheck:
        """Whether a charge for `action` would go through now; charges nothing. (A guest may
        ask about any action: beyond its quota, the answer is no.)"""
        wallet = WalletRepository(self._data, owner.caller)
        cost = await wallet.cost(action, model_tier)
        if cost is None:
            raise unknown_action(action, "query")
        if owner.user_id is None:
            quota = await GuestQuotaRepository(self._data, owner.caller).quota(
                owner.guest_session or ""
            )
            if action in GUEST_ACTIONS:
                return ChargeCheck(can_proceed=quota.allows(action), balance=None, cost=0)
            return ChargeCheck(can_proceed=False, balance=None, cost=cost)
        account = await wallet.account(owner.user_id)
        if account is None:
            raise SessionEnded("This account no longer exists.")
        cost = 0 if account.is_admin else cost
        return ChargeCheck(
            can_proceed=account.diamonds >= cost, balance=account.diamonds, cost=cost
        )

    async def charge(self, owner: Owner, request: ChargeRequest) -> ChargeMade:
        """Charge the caller for `request.action` once per idempotency key: the same key again
        returns the first charge and takes nothing. Raises `InsufficientCredits` (402),
        `GuestQuotaUsed` (402), `AccountRequired` (401) or a 422 naming `action`."""
        result = await WalletRepository(self._data, owner.caller).charge(
            request.action, request.model, request.idempotency_key
        )
        refused = refused_charge(
            result.outcome, request.action, required=result.required, balance=result.balance
        )
        if refused is not None:
            raise refused
        match result.outcome:
            case "charged" | "replayed":
                # Both set for these outcomes (charge_credits' contract).
                assert result.charge_id is not None
                assert result.cost is not None
                if result.outcome == "charged" and owner.user_id is not None:
                    await self._balance_changed(owner.user_id)
                return ChargeMade(
                    Charge(result.charge_id, result.cost, result.balance),
                    replayed=result.outcome == "replayed",
                )
            case "unknown_action":
                raise unknown_action(request.action, "body")
        raise ValueError(f"charge_credits answered {result.outcome!r}")

    async def _balance_changed(self, user_id: UUID) -> None:
        # Deleted, not rewritten: the next reader loads the user as the database has it now.
        await self._cache.invalidate(USER_SESSION.key(user_id))
