"""Audits: a signed-in user's saved site audits (guests are told to sign in)."""

from uuid import UUID

from litestar import Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from services.projects.audits import Audits
from services.projects.models.audits import Audit, AuditList, AuditSave
from shared.access import SignedInUser, from_state


@post(
    "/audits",
    status_code=201,
    summary="Keep a finished audit (at most 50 per user: 409 audit_limit_reached); its domain, "
    "company name and scores are read from the url and result",
)
async def save_audit(
    data: JSONBody[AuditSave], user: NamedDependency[SignedInUser], audits: NamedDependency[Audits]
) -> Audit:
    return await audits.save(user, data)


@get("/audits", summary="The user's saved audits, newest first, without their results")
async def list_audits(
    user: NamedDependency[SignedInUser], audits: NamedDependency[Audits]
) -> AuditList:
    return await audits.summaries(user)


@get("/audits/{audit_id:uuid}", summary="One of the user's saved audits, with its result")
async def get_audit(
    audit_id: FromPath[UUID], user: NamedDependency[SignedInUser], audits: NamedDependency[Audits]
) -> Audit:
    return await audits.audit(user, audit_id)


@delete("/audits/{audit_id:uuid}", summary="Delete one of the user's saved audits")
async def delete_audit(
    audit_id: FromPath[UUID], user: NamedDependency[SignedInUser], audits: NamedDependency[Audits]
) -> None:
    await audits.delete(user, audit_id)


router = Router(
    path="/",
    route_handlers=[save_audit, list_audits, get_audit, delete_audit],
    dependencies={"audits": from_state("audits")},
)
