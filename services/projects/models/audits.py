"""Saved audits on the wire (camelCase), and the problems of saving and finding one.

The columns a list shows (domain, company name, scores) are derived in SQL from the url and the
result (`user_audits_derive_from_result`); the body is checked here only so that a bad one is a
422 naming its field rather than a constraint's name.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import Conflict, NotFound
from shared.wire import RequestBody

AUDIT_LIMIT = 50
"""Audits one user may keep (enforced in SQL; the rule `audit_limit_reached`)."""

RESULT_MAX_BYTES = 1_048_576
"""The size limit of `user_audits.audit_result`, as its text (`user_audits_audit_result_size`)."""

AuditStatus = Literal["pending", "done", "failed"]
Score = Annotated[float, Meta(ge=0, le=100, description="0-100")]
AuditUrl = Annotated[
    str,
    Meta(
        max_length=2048,
        # http(s) with a host: the domain is read from it in SQL.
        pattern=r"^[hH][tT][tT][pP][sS]?://(?:[^\s/?#@]*@)?[^\s/?#@:]{1,253}(?::[0-9]{1,5})?(?:[/?#]\S*)?$",
        description="The audited site's address, http or https",
        examples=["https://bageriet.se"],
    ),
]


# Requests ----------------------------------------------------------------------------------------


class AuditScores(msgspec.Struct, frozen=True):
    """`result.audit_scores`: the four scores an audit gives, each optional (other keys kept)."""

    seo: Score | None = None
    ux: Score | None = None
    performance: Score | None = None
    security: Score | None = None


class AuditResultHead(msgspec.Struct, frozen=True):
    """What a saved audit reads from its result (snake_case, as the audit engine writes it);
    every other key of the result is stored as it came."""

    company: Annotated[str, Meta(max_length=200)] | None = None
    audit_scores: AuditScores | None = None


class AuditSave(RequestBody):
    """A finished audit to keep: the audited `url` and the audit's `result` (free-form JSON; its
    `company` and `audit_scores.{seo, ux, performance, security}` become the summary)."""

    url: AuditUrl
    result: Annotated[dict[str, Any], Meta(description="The audit result, at most 1 MB")]
    status: AuditStatus = "done"

    def __post_init__(self) -> None:
        try:
            msgspec.convert(self.result, AuditResultHead)
        except msgspec.ValidationError as error:
            # In msgspec's words, located under `result`, so the 422 names the field.
            raise ValueError(str(error).replace(" - at `$", " - at `$.result", 1)) from None
        if len(msgspec.json.encode(self.result)) > RESULT_MAX_BYTES:
            raise ValueError("Expected an audit result of at most 1 MB - at `$.result`")


# Responses ---------------------------------------------------------------------------------------


class AuditSummary(msgspec.Struct, frozen=True, rename="camel"):
    """One saved audit, without its result."""

    id: UUID
    url: str
    domain: str
    company_name: str | None
    score_overall: int | None
    """The rounded mean of the four scores; null unless all four are known."""
    score_seo: int | None
    score_ux: int | None
    score_performance: int | None
    score_security: int | None
    status: str
    created_at: datetime


class Audit(AuditSummary, frozen=True, rename="camel"):
    """One saved audit, with the result it was saved with."""

    result: dict[str, Any]


class AuditList(msgspec.Struct, frozen=True, rename="camel"):
    """The user's saved audits, newest first (at most 50)."""

    audits: list[AuditSummary]


# Problems ----------------------------------------------------------------------------------------


class AuditNotFound(NotFound):
    """No audit of the caller's has this id (another user's is not told apart from none)."""

    code = "audit_not_found"
    title = "Audit not found"

    def __init__(self) -> None:
        super().__init__("There is no audit with this id.")


class AuditLimitReached(Conflict):
    """The user keeps 50 audits already: one must be deleted first."""

    code = "audit_limit_reached"
    title = "Audit limit reached"

    def __init__(self) -> None:
        super().__init__(
            f"You can keep {AUDIT_LIMIT} audits: delete one to save another.", limit=AUDIT_LIMIT
        )
