"""Generations on the wire (camelCase): the requests that generate, refine and start a site from a
template, what a generation answers (as JSON, or as the events of a stream), and the problems a
paid generation is refused with.

Billing's refusals (402 `insufficient_credits`, 402/401 `requires_account`) are stated here with
billing's codes and shapes: projects charges through billing's SQL function, never its code.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import Conflict
from shared.wire import RequestBody

ModelTier = Literal["standard", "pro"]
"""The model a generation runs on (billing's tiers; `pro` costs less per call but is v0's larger
model)."""

PROMPT_MAX = 50_000
TEMPLATE_ID_MAX = 100

Prompt = Annotated[
    str, Meta(min_length=1, max_length=PROMPT_MAX, description="What the site should be")
]
Message = Annotated[
    str, Meta(min_length=1, max_length=PROMPT_MAX, description="What to change in the site")
]
IdempotencyKey = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        description="Chosen by the client, one per generation: the same key again answers the "
        "first generation's outcome, charging nothing and calling the engine no more",
    ),
]


# Requests ----------------------------------------------------------------------------------------


class GenerateRequest(RequestBody):
    """Generate the site from a prompt: a new v0 chat and its first version."""

    prompt: Prompt
    idempotency_key: IdempotencyKey
    model: ModelTier = "standard"


class RefineRequest(RequestBody):
    """Refine the site: a message to the chat its newest generation made, for a new version."""

    message: Message
    idempotency_key: IdempotencyKey
    model: ModelTier = "standard"


class TemplateGenerateRequest(RequestBody):
    """Start a site (`projectId`, one of the caller's) from a v0 template."""

    project_id: UUID
    idempotency_key: IdempotencyKey


# Responses ---------------------------------------------------------------------------------------


class GeneratedFile(msgspec.Struct, frozen=True, rename="camel"):
    """A file of the generated version: its path and size (the content is in the site's saved
    data and file list)."""

    name: str
    size_bytes: int


class GenerationResult(msgspec.Struct, frozen=True, rename="camel"):
    """A generation that finished: the site now shows this version.

    `chatId` is v0's chat (also saved as the site's `chatId`); `versionId` is our version's id
    (the one to pin and to deploy), `v0VersionId` v0's; `demoUrl` the preview. `cost` is what it
    took in diamonds (0 for a guest's free one, and for admins) and `balance` the balance right
    after the charge (None for a guest)."""

    generation_id: UUID
    kind: str
    chat_id: str | None
    version_id: UUID | None
    v0_version_id: str | None
    demo_url: str | None
    files: list[GeneratedFile]
    cost: int
    balance: int | None


class Generation(msgspec.Struct, frozen=True):
    """A generation as its row holds it (read as the caller)."""

    id: UUID
    app_project_id: UUID | None
    """None once its site is deleted (then only the service role reads it)."""
    kind: str
    status: str
    cost: int | None
    balance_after: int | None
    error_code: str | None
    error_message: str | None
    v0_chat_id: str | None
    v0_version_id: str | None
    version_id: UUID | None
    demo_url: str | None
    files: list[GeneratedFile] | None
    deadline_at: datetime

    def result(self) -> GenerationResult:
        return GenerationResult(
            generation_id=self.id,
            kind=self.kind,
            chat_id=self.v0_chat_id,
            version_id=self.version_id,
            v0_version_id=self.v0_version_id,
            demo_url=self.demo_url,
            files=self.files or [],
            cost=self.cost or 0,
            balance=self.balance_after,
        )


# Stream events (Accept: text/event-stream) -------------------------------------------------------


class StartedEvent(msgspec.Struct, frozen=True, rename="camel"):
    """`event: started` — charged and recorded; sent first."""

    generation_id: UUID


class ContentEvent(msgspec.Struct, frozen=True):
    """`event: content` — more of the engine's answer, as text to append."""

    delta: str


class VersionEvent(msgspec.Struct, frozen=True, rename="camel"):
    """`event: version` — the new version is stored; its preview is live."""

    version_id: UUID | None
    demo_url: str | None


class DoneEvent(msgspec.Struct, frozen=True):
    """`event: done` — the generation's outcome, the JSON answer's body; sent last."""

    result: GenerationResult


class ErrorEvent(msgspec.Struct, frozen=True):
    """`event: error` — the generation failed (and was refunded): the problem document the JSON
    answer would have had; sent last."""

    problem: dict[str, Any]


StreamEvent = StartedEvent | ContentEvent | VersionEvent | DoneEvent | ErrorEvent


# Problems ----------------------------------------------------------------------------------------


class NothingToRefine(Conflict):
    """A refine continues the chat of the site's last finished generation; this site has none."""

    code = "nothing_to_refine"
    title = "Nothing to refine yet"

    def __init__(self) -> None:
        super().__init__("Generate the site before refining it.")


class IdempotencyKeyReused(Conflict):
    """The key already named a generation of another kind or for another site."""

    code = "idempotency_key_reused"
    title = "Idempotency key already used"

    def __init__(self) -> None:
        super().__init__(
            "This idempotency key was used for another generation; choose a new key per request."
        )
