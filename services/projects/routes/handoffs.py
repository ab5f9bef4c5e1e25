"""Prompt handoffs: a prompt carried from the landing page into the builder, consumed once by
its owner (a user or a guest)."""

from uuid import UUID

from litestar import Router, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from services.projects.models.handoffs import ConsumedHandoff, HandoffCreate, HandoffCreated
from services.projects.repo.handoffs import HandoffRepository
from shared.access import Owner, as_caller


@post(
    "/handoffs",
    status_code=201,
    summary="Hand a prompt to the builder; a project id must name one of the caller's sites",
)
async def create_handoff(
    data: JSONBody[HandoffCreate],
    owner: NamedDependency[Owner],
    handoffs: NamedDependency[HandoffRepository],
) -> HandoffCreated:
    return await handoffs.create(data)


@post(
    "/handoffs/{handoff_id:uuid}/consume",
    status_code=200,
    summary="Open one of the caller's handoffs; only the first opening answers "
    "alreadyConsumed: false",
)
async def consume_handoff(
    handoff_id: FromPath[UUID],
    owner: NamedDependency[Owner],
    handoffs: NamedDependency[HandoffRepository],
) -> ConsumedHandoff:
    return await handoffs.consume(handoff_id)


router = Router(
    path="/",
    route_handlers=[create_handoff, consume_handoff],
    dependencies={"handoffs": as_caller(HandoffRepository)},
)
