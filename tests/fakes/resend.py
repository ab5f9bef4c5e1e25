"""Resend's `POST /emails`, recording what would have been delivered.

It speaks Resend's wire format: `Authorization: Bearer re_...`, a JSON body with `from`, `to`
(a string or up to 50 addresses), `subject` and `text` and/or `html`; success is 200
`{"id": "<uuid>"}`, errors are `{"statusCode", "message", "name"}`. An `Idempotency-Key` seen
before with the same body answers the first response again without delivering twice. Tests make
it fail the next N requests with 500, or reject every request with 422.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_RECIPIENTS = 50


@dataclass
class FakeResend:
    api_key: str
    base_url: str = ""
    """Set once served."""
    fail_next: int = 0
    """How many coming requests answer 500 before the service recovers."""
    reject: bool = False
    """Answer every request 422, as for a sender domain that is not verified."""
    delay_s: float = 0.0
    """How long each request takes, so concurrent senders overlap."""
    received: list[httpx.Request] = field(default_factory=list, init=False)
    """Every request to `POST /emails`, in order, whatever the answer."""
    delivered: list[dict[str, Any]] = field(default_factory=list, init=False)
    """The body of every email accepted, in order; a retried idempotent request counts once."""
    _by_key: dict[str, tuple[bytes, str]] = field(default_factory=dict, init=False, repr=False)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or request.url.path != "/emails":
            return _error(404, "not_found", "The requested endpoint does not exist.")
        self.received.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        authorization = request.headers.get("authorization")
        if not authorization:
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        if authorization != f"Bearer {self.api_key}":
            return _error(403, "invalid_api_key", "API key is invalid")
        if self.fail_next > 0:
            self.fail_next -= 1
            return _error(500, "application_error", "An unexpected error occurred.")
        if self.reject:
            return _error(
                422,
                "validation_error",
                "The sajtmaskin.se domain is not verified. Please, add and verify your domain.",
            )
        try:
            body = json.loads(request.content)
        except ValueError:
            return _error(400, "validation_error", "Invalid JSON body.")
        problem = _invalid(body)
        if problem:
            return _error(422, "validation_error", problem)
        key = request.headers.get("idempotency-key")
        if key is not None and key in self._by_key:
            first_body, first_id = self._by_key[key]
            if first_body != request.content:
                return _error(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload.",
                )
            return httpx.Response(200, json={"id": first_id})
        email_id = str(uuid.uuid4())
        if key is not None:
            self._by_key[key] = (request.content, email_id)
        self.delivered.append(body)
        return httpx.Response(200, json={"id": email_id})


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for name in ("from", "to", "subject"):
        if not body.get(name):
            return f"Missing `{name}` field."
    recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
    if len(recipients) > MAX_RECIPIENTS or not all(
        isinstance(address, str) and "@" in address for address in recipients
    ):
        return (
            "Invalid `to` field. The email address needs to follow the `email@example.com` format."
        )
    if not body.get("text") and not body.get("html") and not body.get("template"):
        return "Missing `html` or `text` field."
    return None


def _error(status: int, name: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": status, "message": message, "name": name})
