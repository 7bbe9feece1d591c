"""structlog set-up and processors: JSON lines off a terminal, readable on one, secrets masked.

``configure_logging()`` is called only by entry points (CLI commands, worker start).
Standard-library loggers (Celery, uvicorn, kombu) go through the same processors, so
the redactor sees every line the process writes. Lines to a file or a pipe are written by a
thread of their own (``logsink``): the logging thread only formats them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from orchestrator import logsink, redaction

__all__ = ["bind_ids", "configure_logging", "get_logger", "redact_secrets"]


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask secrets in every key and value of a log event (by key name, shape and value)."""
    redacted: MutableMapping[str, Any] = redaction.redact(dict(event_dict))
    return redacted


def _drop_color_message(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn duplicates its message with ANSI colours; one copy is enough.
    event_dict.pop("color_message", None)
    return event_dict


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog and route stdlib logging through it; safe to call twice."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(out, "isatty", lambda: False)())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=getattr(out, "isatty", lambda: False)())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared[:1],
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared[1:],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(logsink.in_background(out))  # formatted here, written by a thread
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for previous in root.handlers:  # its queued lines go before the new configuration's
        stream = previous.stream if isinstance(previous, logging.StreamHandler) else None
        if isinstance(stream, logsink.BackgroundStream):
            stream.drain()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "amqp", "kombu", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Python's warnings (Celery's SecurityWarning, deprecations) become log records too: every
    # line a process writes is then one record in the configured format, JSON for collectors.
    logging.captureWarnings(True)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; use ``bind_ids`` to carry incident and run ids."""
    return structlog.stdlib.get_logger(name)


def bind_ids(**ids: str | None) -> None:
    """Bind incident_id / run_id / event_id to every log line of this context."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})
