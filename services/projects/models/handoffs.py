"""Prompt handoffs on the wire (camelCase): a prompt carried from the landing page into the
builder, consumed once, and the problem of a handoff the caller does not have."""

from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from shared.errors import NotFound
from shared.wire import RequestBody

PROMPT_MAX = 50_000
SOURCE_MAX = 100


class HandoffCreate(RequestBody):
    """A prompt to hand to the builder, where it came from (e.g. `landing`), and optionally the
    caller's site it is for."""

    prompt: Annotated[str, Meta(min_length=1, max_length=PROMPT_MAX)]
    source: Annotated[str, Meta(max_length=SOURCE_MAX)] | None = None
    project_id: UUID | None = None


class HandoffCreated(msgspec.Struct, frozen=True, rename="camel"):
    id: UUID


class ConsumedHandoff(msgspec.Struct, frozen=True, rename="camel"):
    """A handoff as the builder opens it; `alreadyConsumed` is false for the first opening only."""

    prompt: str
    source: str | None
    project_id: UUID | None
    already_consumed: bool


class HandoffNotFound(NotFound):
    """No such handoff among the caller's (another tenant's looks the same as none)."""

    code = "handoff_not_found"
    title = "No such prompt handoff"
