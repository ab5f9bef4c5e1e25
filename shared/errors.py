"""Errors every service raises, rendered as RFC 9457 problem details with a stable `code`.

Handlers and repositories raise these; the app factory turns them into responses. Nothing else
builds an error response by hand, and no response carries SQL, stack traces or secrets.
"""

from typing import Any, ClassVar


class Problem(Exception):
    """An error a client should see: HTTP status, stable machine `code`, human `detail`."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extensions = {key: value for key, value in extensions.items() if value is not None}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document (RFC 9457 members plus `code` and any extensions)."""
        document: dict[str, Any] = {
            "type": f"https://sajtmaskin.se/problems/{self.code.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extensions,
        }
        if instance:
            document["instance"] = instance
        return document


class BadRequest(Problem):
    status = 400
    code = "bad_request"
    title = "Bad request"


class ValidationFailed(Problem):
    status = 422
    code = "validation_failed"
    title = "Invalid request"


class Unauthorized(Problem):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class SignInRequired(Unauthorized):
    """The route needs a signed-in user (or, where it says so, a guest session); the one
    wording every service answers anonymous callers with."""

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail or "Sign in first.", **kwargs)


class SessionEnded(Unauthorized):
    """The token is well signed, but its user is deleted or disabled, or its session ended
    (logout, refresh-token reuse, password change)."""

    code = "session_ended"
    title = "Session ended"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail or "This session has ended; sign in again.", **kwargs)


class InvalidToken(Unauthorized):
    code = "invalid_token"
    title = "Invalid or expired token"


class Forbidden(Problem):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(Problem):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    code = "conflict"
    title = "Conflict"


class RuleRefused(Problem):
    """A rule of the product that SQL enforces refused the change (a limit reached, …): `rule`
    names it. Services turn the rules they know into their own problems; any other stays this
    409."""

    status = 409
    code = "rule_refused"
    title = "Refused by a rule"

    def __init__(self, rule: str) -> None:
        super().__init__(f"Refused by the rule {rule!r}.")
        self.rule = rule


class ReferenceNotFound(Problem):
    """A foreign key points at nothing the caller may see."""

    status = 409
    code = "reference_not_found"
    title = "Referenced row does not exist"


class InvalidData(Problem):
    """A check or not-null constraint refused the data."""

    status = 422
    code = "constraint_violated"
    title = "Data violates a constraint"


class ServiceUnavailable(Problem):
    status = 503
    code = "service_unavailable"
    title = "Service temporarily unavailable"


class DatabaseTimeout(ServiceUnavailable):
    code = "database_timeout"
    title = "The database took too long"


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    title = "The database is unreachable"
