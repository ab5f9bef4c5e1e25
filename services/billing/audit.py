"""The ledger audit (`sajtmaskin billing audit`): for every user, `diamonds` must equal the sum of
their ledger rows, and each row's `balance_after` the running sum in the order the rows were
written. `ledger_discrepancies()` decides it in SQL, as the service role, on either data plane."""

from services.billing.repo.wallet import Discrepancy, LedgerAuditRepository
from shared.config import Settings
from shared.data.plane import job_clients
from shared.identity import service_caller


async def ledger_discrepancies(settings: Settings) -> list[Discrepancy]:
    """Every user for whom the ledger invariant fails (none: the ledger is clean), asked of the
    database `settings` configure; raises `ValueError` without the service role's key on the
    postgrest plane, a `Problem` when the database cannot answer."""
    caller = service_caller(settings)
    async with job_clients(settings) as (plane, _):
        return await LedgerAuditRepository(plane, caller).discrepancies()


def described(discrepancy: Discrepancy) -> str:
    """One line saying what is wrong with a user's ledger."""
    parts = []
    if discrepancy.diamonds != discrepancy.ledger_sum:
        parts.append(
            f"diamonds {discrepancy.diamonds} but the ledger sums to {discrepancy.ledger_sum}"
        )
    if discrepancy.bad_rows:
        parts.append(f"{discrepancy.bad_rows} row(s) whose balance_after is not the running sum")
    return f"user {discrepancy.user_id}: {'; '.join(parts)}"
