"""Audits: a signed-in user's saved site audits, through the `audit:` and `audit_list:` caches.

Every read and write runs as the user under row-level security. `audit:{id}` keeps the owner
with the audit and is served only to that owner, so knowing another user's audit id gets a 404
whether or not it is cached; `audit_list:{userId}` is the user's own by its key. Saving drops the
user's list; deleting drops the audit and the list. Redis away, the database answers (the cache
fails open).
"""

from uuid import UUID

import msgspec

from services.projects.cache import AUDIT, AUDIT_LIST
from services.projects.models.audits import (
    Audit,
    AuditLimitReached,
    AuditList,
    AuditNotFound,
    AuditSave,
)
from services.projects.repo.audits import AuditRepository
from shared.access import SignedInUser
from shared.cache import Cache
from shared.data.plane import DataPlane
from shared.errors import InvalidData, RuleRefused, ValidationFailed

# What a constraint of user_audits refusing a save says about the body.
FIELD_OF_CONSTRAINT = {
    "user_audits_url_length": "url",
    "user_audits_domain_length": "url",
    "user_audits_company_name_length": "result.company",
    "user_audits_audit_result_size": "result",
    "user_audits_scores_in_range": "result.audit_scores",
}


class CachedAudit(msgspec.Struct, frozen=True):
    """An `audit:{id}` entry: the audit and whose it is."""

    user_id: UUID
    audit: Audit


class Audits:
    """Saved audits, each as its caller; one per process."""

    def __init__(self, data: DataPlane, cache: Cache) -> None:
        self._data = data
        self._cache = cache

    async def save(self, user: SignedInUser, request: AuditSave) -> Audit:
        """Keep a finished audit. Raises `AuditLimitReached` (409) when the user keeps 50, a 422
        naming the field a constraint refused."""
        try:
            audit = await self._repository(user).save(request.url, request.result, request.status)
        except RuleRefused as refused:
            if refused.rule == "audit_limit_reached":
                raise AuditLimitReached() from None
            raise
        except InvalidData as invalid:
            field = FIELD_OF_CONSTRAINT.get(invalid.extensions.get("constraint") or "")
            if field is None:
                raise
            raise ValidationFailed(
                f"Invalid: {field}.",
                errors=[{"field": field, "in": "body", "message": "Too large or out of range"}],
            ) from None
        await self._cache.invalidate(AUDIT_LIST.key(user.id))
        return audit

    async def summaries(self, user: SignedInUser) -> AuditList:
        """The user's audits, newest first, without their results."""
        return await self._cache.get_or_load(
            AUDIT_LIST.key(user.id), AuditList, lambda: self._repository(user).summaries(user.id)
        )

    async def audit(self, user: SignedInUser, audit_id: UUID) -> Audit:
        """One of the user's audits; `AuditNotFound` (404) for anyone else's or none."""

        async def load() -> CachedAudit:
            found = await self._repository(user).audit(audit_id)
            if found is None:
                raise AuditNotFound()
            return CachedAudit(user.id, found)

        cached = await self._cache.get_or_load(AUDIT.key(audit_id), CachedAudit, load)
        if cached.user_id != user.id:
            raise AuditNotFound()
        return cached.audit

    async def delete(self, user: SignedInUser, audit_id: UUID) -> None:
        """Delete one of the user's audits; `AuditNotFound` (404) for anyone else's or none."""
        if not await self._repository(user).delete(audit_id):
            raise AuditNotFound()
        await self._cache.invalidate(AUDIT.key(audit_id), AUDIT_LIST.key(user.id))

    def _repository(self, user: SignedInUser) -> AuditRepository:
        return AuditRepository(self._data, user.caller)
