"""A charge billing's SQL refused, answered alike by every service that charges.

`charge_credits`, and the functions that charge through it (projects' `start_generation` and
`start_deployment`), refuse with an outcome: `insufficient` (with what the action costs and the
balance), `quota_exceeded` (a guest that used its free generate or refine) or
`requires_account` (a guest asking for anything else).
"""

from shared.errors import Problem, Unauthorized


class InsufficientCredits(Problem):
    status = 402
    code = "insufficient_credits"
    title = "Not enough diamonds"

    def __init__(self, required: int, current: int) -> None:
        super().__init__(
            f"This costs {required} diamonds; the balance is {current}.",
            required=required,
            current=current,
        )


class GuestQuotaUsed(Problem):
    """A guest session has used its free generation or refine: signing up continues."""

    status = 402
    code = "requires_account"
    title = "Create an account to continue"


class AccountRequired(Unauthorized):
    """Only the free generate and refine are open to guests; every other paid action needs an
    account."""

    code = "requires_account"
    title = "Create an account to continue"


def refused_charge(
    outcome: str, action: str, *, required: int | None, balance: int | None
) -> Problem | None:
    """The problem of a charge refused for `action` with `outcome`; None for any other outcome."""
    match outcome:
        case "insufficient":
            return InsufficientCredits(required=required or 0, current=balance or 0)
        case "quota_exceeded":
            used = "generation" if action == "generate" else action
            return GuestQuotaUsed(
                f"This guest session has used its free {used}: create an account to continue."
            )
        case "requires_account":
            return AccountRequired(f"Create an account to {action.replace('_', ' ')}.")
    return None
