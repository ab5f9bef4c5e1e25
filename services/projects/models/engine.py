"""What the code engine (v0 Platform API v1) answers, read into our own shapes, and the problems a
generation meets when it fails.

v0 speaks camelCase and adds fields as it pleases; these structs read only what we keep and
ignore the rest (msgspec's default), so a new field on v0's side never breaks a generation.
"""

from typing import Literal

import msgspec

from shared.errors import Problem, ServiceUnavailable

VersionStatus = Literal["pending", "completed", "failed"]


class EngineFile(msgspec.Struct, frozen=True, rename="camel"):
    """One file of a generated version: its path in the project and its text."""

    name: str
    content: str
    locked: bool = False
    """v0 keeps a locked file as it is when the chat is refined."""


class Version(msgspec.Struct, frozen=True, rename="camel"):
    """A version of a chat's code: pending while v0 works, then completed (with a preview at
    `demo_url`) or failed. A version summary (a chat's list) has no files."""

    id: str
    status: VersionStatus
    demo_url: str | None = None
    screenshot_url: str | None = None
    files: list[EngineFile] = msgspec.field(default_factory=list)


class Chat(msgspec.Struct, frozen=True, rename="camel"):
    """A v0 chat (v0's ChatDetail, reduced): one conversation that produces versions of a site."""

    id: str
    web_url: str = ""
    v0_project_id: str | None = msgspec.field(default=None, name="projectId")
    """The v0 project the chat belongs to, if v0 put it in one."""
    text: str = ""
    """The assistant's last answer as text (what the original showed when there was no code)."""
    latest_version: Version | None = None


# Stream events -----------------------------------------------------------------------------------


class Started(msgspec.Struct, frozen=True):
    """v0 opened the chat; its id is known from here on (sent once, first)."""

    chat_id: str


class Content(msgspec.Struct, frozen=True):
    """More of the assistant's answer, as text to append to what came before."""

    delta: str


class Finished(msgspec.Struct, frozen=True):
    """The generation is done: the chat with its completed latest version (sent once, last)."""

    chat: Chat


EngineEvent = Started | Content | Finished


# Problems ----------------------------------------------------------------------------------------


class EngineUnavailable(ServiceUnavailable):
    """v0 could not make the version now: it failed (5xx, a failed version), limited us (429),
    refused our key (401/403), did not answer in time, or could not be reached. Trying again
    later may work; nothing about the prompt is at fault.

    `reason` says what happened, for logs and stored rows (never v0's text to the client);
    `chat_id` is v0's chat when it was created before the failure."""

    code = "engine_unavailable"
    title = "The code engine is unavailable"

    def __init__(self, reason: str, *, chat_id: str | None = None) -> None:
        super().__init__("The code engine could not build the site right now; try again shortly.")
        self.reason = reason
        self.chat_id = chat_id


class EngineRejected(Problem):
    """v0 refused the request itself (400, 413, 422): the prompt is too long or not acceptable.
    The detail is v0's own message, so the user can change the prompt."""

    status = 422
    code = "engine_rejected"
    title = "The code engine refused the request"

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message or self.title)
        self.reason = f"v0 answered {status}: {message}"
        self.upstream_status = status


class EngineNotConfigured(ServiceUnavailable):
    code = "engine_not_configured"
    title = "The code engine is not configured"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "Site generation needs V0_API_KEY.")
