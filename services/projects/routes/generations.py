"""Generating a site, refining it, and starting one from a template: each paid once per
idempotency key, answered as JSON (201) or, with `Accept: text/event-stream`, as a stream of
events (`started`, `content`, `version`, then `done` or `error`).

A refusal (402 credits, 404 site, 409 nothing to refine, 422 body) is an ordinary problem answer
in either mode: the stream begins only once the generation is charged and recorded.
"""

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, Router, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from services.projects.generation import Generations, Run
from services.projects.models.generations import (
    TEMPLATE_ID_MAX,
    ContentEvent,
    DoneEvent,
    ErrorEvent,
    GenerateRequest,
    GenerationResult,
    RefineRequest,
    StartedEvent,
    StreamEvent,
    TemplateGenerateRequest,
    VersionEvent,
)
from shared.access import Owner, from_state
from shared.ratelimit import RATE_LIMIT_OPT

EVENT_STREAM = "text/event-stream"
STREAM_DOC = ResponseSpec(
    data_container=str,
    description="With `Accept: text/event-stream`: Server-Sent Events `started {generationId}`, "
    "`content {delta}` (the engine's answer as it is written), `version {versionId, demoUrl}`, "
    "then `done` (data: the JSON answer's body) or `error` (data: the problem document). The "
    "generation completes, and is refunded on failure, even if the client disconnects.",
    media_type=EVENT_STREAM,
)
RESPONSES: dict[int, ResponseSpec] = {
    201: ResponseSpec(
        data_container=GenerationResult,
        description="The generation is done: the site's new version (also the answer to the same "
        "idempotency key again). A failure is a problem: 503 engine_unavailable or 422 "
        "engine_rejected (v0's message), the charge refunded.",
    ),
    200: STREAM_DOC,
}

EVENT_NAMES: dict[type[Any], str] = {
    StartedEvent: "started",
    ContentEvent: "content",
    VersionEvent: "version",
    DoneEvent: "done",
    ErrorEvent: "error",
}


def wants_stream(request: Request[Any, Any, Any]) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


async def answer(run: Run, streaming: bool) -> Response[GenerationResult] | ServerSentEvent:
    if streaming:
        # X-Accel-Buffering: any nginx in front passes events on as they are written.
        return ServerSentEvent(
            _messages(run),
            status_code=200,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    return Response(await run.result(), status_code=201)


async def _messages(run: Run) -> Any:
    async for event in run.stream():
        yield ServerSentEventMessage(event=EVENT_NAMES[type(event)], data=_data(event))


def _data(event: StreamEvent) -> str:
    if isinstance(event, DoneEvent):
        return msgspec.json.encode(event.result).decode()
    if isinstance(event, ErrorEvent):
        return msgspec.json.encode(event.problem).decode()
    return msgspec.json.encode(event).decode()


@post(
    "/{project_id:uuid}/generate",
    status_code=201,
    opt={RATE_LIMIT_OPT: "generate"},
    responses=RESPONSES,
    summary="Generate the site from a prompt (charged: generate); the same idempotency key "
    "again answers the first generation's outcome without a charge",
)
async def generate(
    request: Request[Any, Any, Any],
    project_id: FromPath[UUID],
    data: JSONBody[GenerateRequest],
    owner: NamedDependency[Owner],
    generations: NamedDependency[Generations],
) -> Response[GenerationResult] | ServerSentEvent:
    streaming = wants_stream(request)
    return await answer(
        await generations.generate(owner, project_id, data, streaming=streaming), streaming
    )


@post(
    "/{project_id:uuid}/refine",
    status_code=201,
    opt={RATE_LIMIT_OPT: "refine"},
    responses=RESPONSES,
    summary="Refine the site with a message to its last generation's chat (charged: refine); "
    "409 nothing_to_refine before a first generation",
)
async def refine(
    request: Request[Any, Any, Any],
    project_id: FromPath[UUID],
    data: JSONBody[RefineRequest],
    owner: NamedDependency[Owner],
    generations: NamedDependency[Generations],
) -> Response[GenerationResult] | ServerSentEvent:
    streaming = wants_stream(request)
    return await answer(
        await generations.refine(owner, project_id, data, streaming=streaming), streaming
    )


@post(
    "/templates/{template_id:str}/generate",
    status_code=201,
    opt={RATE_LIMIT_OPT: "generate"},
    responses=RESPONSES,
    summary="Start a site (projectId) from a v0 template (charged: generate): the cached "
    "generation when one is live, else v0's",
)
async def generate_from_template(
    request: Request[Any, Any, Any],
    template_id: Annotated[str, PathParameter(min_length=1, max_length=TEMPLATE_ID_MAX)],
    data: JSONBody[TemplateGenerateRequest],
    owner: NamedDependency[Owner],
    generations: NamedDependency[Generations],
) -> Response[GenerationResult] | ServerSentEvent:
    return await answer(
        await generations.from_template(owner, template_id, data), wants_stream(request)
    )


router = Router(
    path="/",
    route_handlers=[generate, refine, generate_from_template],
    dependencies={"generations": from_state("generations")},
)
