"""What a failed query means to a client, decided once for both data planes.

PostgREST reports database errors with the SQLSTATE as `code` and Postgres's own message text;
psycopg reports the same SQLSTATE and message. Both planes hand them to `problem_for`, so a
unique violation is the same 409 whichever plane ran the query. Nothing of the SQL reaches the
client: only a stable code, a plain sentence and, for constraint failures, the constraint name.

Each failure is counted once, by SQLSTATE class (`sajtmaskin_database_errors_total`): here for
every error the database (or PostgREST) reports, whoever ran the query, and in
`count_unreached` for a database a plane could not reach at all.
"""

import re

import httpx
import structlog

from shared.errors import (
    Conflict,
    DatabaseTimeout,
    DatabaseUnavailable,
    Forbidden,
    InvalidData,
    InvalidToken,
    Problem,
    ReferenceNotFound,
    RuleRefused,
    ServiceUnavailable,
)
from shared.metrics import record_database_error

log = structlog.get_logger(__name__)

RETRY_AFTER = {"Retry-After": "1"}
CONSTRAINT_IN_MESSAGE = re.compile(r'constraint "([^"]+)"')
# Our SQL refuses a change that breaks a rule of the product (a limit reached) with
#   raise exception using errcode = 'PT409', message = '<rule>';
# PostgREST answers such a "PTxyz" state with HTTP status xyz and the message, psycopg reports
# the same state: either way the service gets `RuleRefused(rule)`.
RULE_REFUSED_STATE = "PT409"
RULE = re.compile(r"[a-z][a-z0-9_]{0,62}")

INVALID_DATA_STATES = {
    "23502",  # not null violation
    "23514",  # check violation
    "22001",  # string too long
    "22003",  # numeric out of range
    "22007",  # invalid datetime format
    "22008",  # datetime out of range
    "22P02",  # invalid text representation (e.g. not a uuid)
    "22023",  # invalid parameter value
}
UNAVAILABLE_STATES = {"08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03"}
# PostgREST's own codes for a database it cannot reach or a pool it cannot get a connection from.
POSTGREST_UNAVAILABLE = {"PGRST000", "PGRST001", "PGRST002", "PGRST003"}
POSTGREST_TOKEN_REJECTED = {"PGRST300", "PGRST301", "PGRST302", "PGRST303"}

UNAVAILABLE = "unavailable"
SQLSTATE = re.compile(r"[0-9A-Z]{5}")


def problem_for(sqlstate: str | None, message: str | None) -> Problem:
    """The client-facing problem for a database (or PostgREST) error."""
    record_database_error(failure_class(sqlstate))
    named = CONSTRAINT_IN_MESSAGE.search(message or "")
    constraint = named.group(1) if named else None
    if sqlstate == RULE_REFUSED_STATE and message and RULE.fullmatch(message):
        return RuleRefused(message)
    if sqlstate == "23505":
        return Conflict("A row with these values already exists.", constraint=constraint)
    if sqlstate == "23503":
        return ReferenceNotFound("The referenced row does not exist.", constraint=constraint)
    if sqlstate in INVALID_DATA_STATES:
        return InvalidData("The data violates a rule of the table.", constraint=constraint)
    if sqlstate == "42501":
        return Forbidden("The caller may not do this.")
    if sqlstate == "57014":
        return DatabaseTimeout("The query ran too long.", headers=RETRY_AFTER)
    if sqlstate in {"40001", "40P01"}:
        return ServiceUnavailable("The database was busy; try again.", headers=RETRY_AFTER)
    if sqlstate in UNAVAILABLE_STATES or sqlstate in POSTGREST_UNAVAILABLE:
        return DatabaseUnavailable(headers=RETRY_AFTER)
    if sqlstate in POSTGREST_TOKEN_REJECTED:
        return InvalidToken()
    # Anything else is a bug in a query or a function: log it, tell the client nothing.
    log.error("unexpected database error", sqlstate=sqlstate, message=message)
    return Problem()


def failure_class(sqlstate: str | None) -> str:
    """The metric's class of a failure: `unavailable` for a database that cannot be reached,
    PostgREST's own codes as `PGRST`, else the SQLSTATE's class (its first two characters)."""
    if sqlstate in UNAVAILABLE_STATES or sqlstate in POSTGREST_UNAVAILABLE:
        return UNAVAILABLE
    if sqlstate and sqlstate.startswith("PGRST"):
        return "PGRST"
    if sqlstate and SQLSTATE.fullmatch(sqlstate):
        return sqlstate[:2]
    return "unknown"


def count_unreached(problem: Problem) -> None:
    """Count as `unavailable` a database the plane could not reach at all (a lost connection,
    an exhausted pool, a Data API that does not answer): the planes answer those themselves,
    with no SQLSTATE and without `problem_for`. The problem handler calls this for every
    problem; a 503 that `problem_for` made (its cause has a SQLSTATE) was counted there."""
    if not isinstance(problem, DatabaseUnavailable | DatabaseTimeout):
        return
    cause = problem.__cause__
    # psycopg reports a connection that failed (and the pool a wait that did) without a SQLSTATE.
    if isinstance(cause, httpx.HTTPError) or getattr(cause, "sqlstate", "") is None:
        record_database_error(UNAVAILABLE)
