"""Saved audits as their user sees them: row-level security scopes every query to the caller's
own; SQL derives the summary columns from the result and refuses a 51st audit."""

from typing import Any
from uuid import UUID

from services.projects.models.audits import (
    AUDIT_LIMIT,
    Audit,
    AuditList,
    AuditStatus,
    AuditSummary,
)
from shared.data.query import Delete, Insert, Select, desc, eq
from shared.data.repository import Repository
from shared.data.rows import row_as

SUMMARY_COLUMNS = (
    "id",
    "url",
    "domain",
    "company_name",
    "score_overall",
    "score_seo",
    "score_ux",
    "score_performance",
    "score_security",
    "status",
    "created_at",
)
AUDIT_COLUMNS = (*SUMMARY_COLUMNS, "audit_result")


class AuditRepository(Repository):
    """The caller's saved audits."""

    async def save(self, url: str, result: dict[str, Any], status: AuditStatus) -> Audit:
        """A new audit of the caller's (its user_id defaults to the caller). Raises
        `RuleRefused('audit_limit_reached')` when the caller keeps 50 already."""
        rows = await self.rows(
            Insert(
                "user_audits",
                ({"url": url, "audit_result": result, "status": status},),
                columns=AUDIT_COLUMNS,
            )
        )
        return _audit(rows[0])

    async def summaries(self, user_id: UUID) -> AuditList:
        """The user's audits, newest first."""
        rows = await self.rows(
            Select(
                "user_audits",
                SUMMARY_COLUMNS,
                (eq("user_id", user_id),),
                order=(desc("created_at"), desc("id")),
                limit=AUDIT_LIMIT,
            )
        )
        return AuditList([row_as(AuditSummary, row) for row in rows])

    async def audit(self, audit_id: UUID) -> Audit | None:
        """The audit, if it is the caller's."""
        rows = await self.rows(Select("user_audits", AUDIT_COLUMNS, (eq("id", audit_id),)))
        return _audit(rows[0]) if rows else None

    async def delete(self, audit_id: UUID) -> bool:
        """Delete the audit if it is the caller's; whether there was one."""
        rows = await self.rows(Delete("user_audits", (eq("id", audit_id),), columns=("id",)))
        return bool(rows)


def _audit(row: dict[str, Any]) -> Audit:
    return row_as(Audit, {**row, "result": row["audit_result"]})
