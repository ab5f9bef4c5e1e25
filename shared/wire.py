"""The base of every request body a service accepts.

    class ProjectCreate(RequestBody):
        name: Annotated[str, Meta(min_length=1, max_length=120)]
        category: str | None = None

Fields are camelCase on the wire, and a field the body type does not name is refused (422
naming it) rather than silently dropped: `{"diamonds": 9999}` must never look accepted.
(Subclasses stay unfrozen: type checkers refuse a frozen Struct over an unfrozen base.)
"""

from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import State

from shared.errors import BadRequest


class RequestBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """A JSON request body: camelCase fields, unknown fields refused."""


class ApiRequest(Request[Any, Any, State]):
    """The request class of every service: a JSON body nested too deeply to decode is a 400,
    not the RecursionError msgspec raises for it."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise BadRequest("The JSON body is nested too deeply.") from None
