"""Every error as an RFC 9457 problem response, and the problem schema in the OpenAPI document.

The app factory registers `EXCEPTION_HANDLERS`: our `Problem`s keep their status, code and
headers; Litestar's own errors (unknown route, wrong method, malformed or invalid input) become
the matching problem; anything else is a 500 that says nothing, its traceback logged only.

Invalid request bodies list every offending field at once, each `{field, in, message}`: msgspec
stops at the first error, so on a failure the raw body is checked again field by field against
the handler's `data` type.
"""

import functools
import re
from http import HTTPStatus
from typing import Any, cast

import msgspec
import structlog
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import Empty, ExceptionHandlersMap
from litestar.utils.scope.state import ScopeState

from shared.data.failures import count_unreached
from shared.errors import BadRequest, Forbidden, NotFound, Problem, Unauthorized, ValidationFailed

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Litestar reports a missing body as the KeyError of its `data` argument.
MISSING_BODY_MESSAGE = "'data'"
MISSING_FIELD = re.compile(r"missing required field `(?P<field>[^`]+)`")
# msgspec's "Expected `int`, got `str` - at `$.pages[0]`": the message, then where.
ERROR_LOCATION = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)

# msgspec names a failed `pattern` by the pattern itself; clients are told the format is wrong,
# not handed a regular expression.
PATTERN_MISMATCH = re.compile(r"^Expected `str` matching regex .*$", re.DOTALL)
PATTERN_MESSAGE = "Not in the expected format"

logger = structlog.stdlib.get_logger(__name__)


class FieldError(msgspec.Struct, frozen=True):
    """One invalid part of a request: the field as named on the wire (None for the whole body
    or request), where it was (`body`, `query`, `path`, `header`, `cookie`), and why."""

    field: str | None
    in_: str | None = msgspec.field(name="in")
    message: str


def problem_response(request: Request[Any, Any, Any], problem: Problem) -> Response[Any]:
    if problem.status >= 500:
        logger.warning("service problem", code=problem.code, status=problem.status)
        count_unreached(problem)
    return _problem(request, problem)


def validation_problem_response(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[Any]:
    """422 `validation_failed` with one entry per invalid field, named as on the wire."""
    reported = [
        _invalid_field(request, item) for item in error.extra or () if isinstance(item, dict)
    ]
    errors = reported
    if any(entry.in_ == "body" for entry in reported) and (body := _every_body_error(request)):
        errors = [entry for entry in reported if entry.in_ != "body"] + body
    fields = [entry.field for entry in errors if entry.field]
    if fields:
        detail = f"Invalid: {', '.join(fields)}."
    elif errors:
        detail = errors[0].message
    else:
        # Litestar's own sentence, e.g. "Missing required query parameter 'n' for path /x".
        detail = error.detail
    return _problem(request, ValidationFailed(detail, errors=msgspec.to_builtins(errors)))


def http_problem_response(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    """Litestar's own errors (unknown route, wrong method, malformed JSON, …) as problems."""
    if error.status_code >= 500:
        return internal_error_response(request, error)
    # Litestar's 4xx details describe the request ("JSON is malformed: …"), never internals; a
    # bare status phrase ("Not Found") gives way to our title.
    detail = error.detail if error.detail != HTTPStatus(error.status_code).phrase else None
    problem = _client_problem(error.status_code)(detail, headers=dict(error.headers or {}))
    return _problem(request, problem)


def internal_error_response(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """500 with nothing about the cause; the traceback goes to the log only."""
    logger.error("unhandled error", method=request.method, path=request.url.path, exc_info=error)
    return _problem(request, Problem())


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    Problem: problem_response,
    ValidationException: validation_problem_response,
    HTTPException: http_problem_response,
    Exception: internal_error_response,
}


def _problem(request: Request[Any, Any, Any], problem: Problem) -> Response[Any]:
    return Response(
        content=problem.body(instance=request.url.path),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _invalid_field(request: Request[Any, Any, Any], item: dict[str, Any]) -> FieldError:
    """One of Litestar's `{message, key, source}` entries."""
    message = str(item.get("message", ""))
    source = item.get("source")
    location = str(getattr(source, "value", source)) if source is not None else None
    key = item.get("key")
    if location in ("query", "header", "cookie") and isinstance(key, str):
        key = _wire_name(request, key, location)
    # Litestar names the body itself `data`; a missing field is named only in msgspec's message.
    field = None if location == "body" and key == "data" else key
    if missing := MISSING_FIELD.search(message):
        field = f"{field}.{missing['field']}" if field else missing["field"]
    if location == "body" and field is None and message == MISSING_BODY_MESSAGE:
        message = "A request body is required"
    return FieldError(field=field, in_=location, message=_readable(message))


def _wire_name(request: Request[Any, Any, Any], key: str, location: str) -> str:
    """A parameter's name as the client sends it: Litestar reports the handler's argument
    (`file_type`), the client knows its alias (`QueryParameter(name="type")`,
    `Parameter(query="type")`)."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    definition = getattr(parameter, "kwarg_definition", None)
    alias = getattr(definition, "name", None) or getattr(definition, location, None)
    return alias if isinstance(alias, str) else key


def _every_body_error(request: Request[Any, Any, Any]) -> list[FieldError] | None:
    """Every missing, unknown and invalid top-level field of the JSON body, checked one by one
    against the handler's `data` Struct; None when the body or the type cannot be checked so
    (not an object, not a Struct, or only the Struct as a whole is refused)."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    # The body as Litestar decoded it for the failed validation (the request's cached JSON).
    body = ScopeState.from_scope(request.scope).json
    if data is None or body is Empty or not isinstance(body, dict):
        return None
    struct_type = data.annotation
    if not (isinstance(struct_type, type) and issubclass(struct_type, msgspec.Struct)):
        return None
    errors = _struct_errors(struct_type, body)
    return errors or None


def _struct_errors(struct_type: type[msgspec.Struct], body: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    fields = msgspec.structs.fields(struct_type)
    for field in fields:
        name = field.encode_name
        if name not in body:
            if field.required:
                errors.append(FieldError(field=name, in_="body", message="Required"))
            continue
        try:
            msgspec.convert(body[name], field.type, strict=False)
        except msgspec.ValidationError as error:
            located = ERROR_LOCATION.match(str(error))
            assert located is not None  # the pattern matches any text
            errors.append(
                FieldError(
                    field=f"{name}{located['path'] or ''}",
                    in_="body",
                    message=_readable(located["message"]),
                )
            )
    if struct_type.__struct_config__.forbid_unknown_fields:
        known = {field.encode_name for field in fields}
        errors.extend(
            FieldError(field=key, in_="body", message="Unknown field")
            for key in body
            if key not in known
        )
    return errors


def _readable(message: str) -> str:
    return PATTERN_MESSAGE if PATTERN_MISMATCH.match(message) else message


# Litestar's own 4xx errors as our problems; statuses without one get a code named here.
SHARED_PROBLEMS: dict[int, type[Problem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
}
LITESTAR_ERROR_CODES = {
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


@functools.cache
def _client_problem(status: int) -> type[Problem]:
    """The `Problem` class for one of Litestar's 4xx statuses."""
    if status in SHARED_PROBLEMS:
        return SHARED_PROBLEMS[status]
    phrase = HTTPStatus(status)
    attributes = {
        "status": status,
        "code": LITESTAR_ERROR_CODES.get(status, phrase.name.lower()),
        "title": phrase.phrase.capitalize(),
    }
    return cast(type[Problem], type(f"HTTP{status}", (Problem,), attributes))


# The OpenAPI document --------------------------------------------------------------------------

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details with a stable machine `code`.",
    required=["type", "title", "status", "detail", "code"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, format="uri"),  # type: ignore[arg-type]
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "code": Schema(
            type=OpenAPIType.STRING,
            description="Stable machine code, e.g. `validation_failed`, `rate_limited`.",
        ),
        "instance": Schema(type=OpenAPIType.STRING, description="The request's path."),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="For `validation_failed`: every invalid field.",
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["field", "in", "message"],
                properties={
                    "field": Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL]),
                    "in": Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL]),
                    "message": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
    additional_properties=True,
)
_PROBLEM_CONTENT = {
    PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))
}


_ANY_PROBLEM = OpenAPIResponse(description="An error, as problem details", content=_PROBLEM_CONTENT)


def document_problems(app: Litestar) -> None:
    """Describe every operation's error responses as problems (Litestar documents its own
    `{status_code, detail, extra}` shape, which no response here has), and add a default
    error response to each. Runs at startup, before the document is first served."""
    document = app.openapi_schema
    # Litestar fills `components.schemas` from the routes' types, replacing configured ones.
    document.components.schemas = {**(document.components.schemas or {}), "Problem": PROBLEM_SCHEMA}
    for path_item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(path_item, method)
            if operation is None:
                continue
            responses = operation.responses or {}
            for status, response in responses.items():
                if status[0] in "45" and isinstance(response, OpenAPIResponse):
                    response.content = dict(_PROBLEM_CONTENT)
            responses.setdefault("default", _ANY_PROBLEM)
            operation.responses = responses
