"""A guest session's free quota: one generation and one refine before it must sign up.

Billing's `charge_credits` counts it, atomically, in `guest_usage` (the SQL holds the same
limits); auth (`GET /auth/me`) and billing (`GET /billing/balance`, `/check`) read it as the
guest, whose row-level security shows it its own row only.
"""

import msgspec

from shared.data.query import Select, eq
from shared.data.repository import Repository

GUEST_GENERATIONS_LIMIT = 1
"""Free generations of a guest session."""
GUEST_REFINES_LIMIT = 1
"""Free refines of a guest session."""
GUEST_ACTIONS = ("generate", "refine")
"""What a guest may do on its quota; everything else needs an account."""


class GuestQuota(msgspec.Struct, frozen=True, rename="camel", tag_field="kind", tag="guest"):
    """A guest session's free usage and what it may still do."""

    generations_used: int
    refines_used: int
    can_generate: bool
    can_refine: bool

    @classmethod
    def of(cls, generations_used: int, refines_used: int) -> "GuestQuota":
        return cls(
            generations_used=generations_used,
            refines_used=refines_used,
            can_generate=generations_used < GUEST_GENERATIONS_LIMIT,
            can_refine=refines_used < GUEST_REFINES_LIMIT,
        )

    def allows(self, action: str) -> bool:
        """Whether the quota covers one more `action`."""
        return (action == "generate" and self.can_generate) or (
            action == "refine" and self.can_refine
        )


class GuestQuotaRepository(Repository):
    """The caller's (a guest's) quota."""

    async def quota(self, session_id: str) -> GuestQuota:
        """None used yet when the guest has no row (its first charge creates it)."""
        rows = await self.rows(
            Select(
                "guest_usage",
                ("generations_used", "refines_used"),
                (eq("session_id", session_id),),
            )
        )
        return GuestQuota.of(**rows[0]) if rows else GuestQuota.of(0, 0)
