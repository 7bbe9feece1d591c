"""Logging: JSON lines off a terminal, ids bound through context, secrets never written."""

from __future__ import annotations

import io
import json
import logging

from orchestrator.logging import bind_ids, configure_logging, get_logger
from orchestrator.redaction import register_secret


def test_json_lines_carry_bound_ids_and_no_secret() -> None:
    import structlog

    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream)
    register_secret("planted-client-secret-777")
    structlog.contextvars.clear_contextvars()
    bind_ids(incident_id="inc-1", run_id="run-1")
    get_logger("t").info("revoking", client_secret="planted-client-secret-777", note="Bearer abcdefghijkl")
    logging.getLogger("celery").warning("stdlib line with planted-client-secret-777")
    structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["incident_id"] == "inc-1" and lines[0]["run_id"] == "run-1"
    assert lines[0]["note"] == "Bearer [REDACTED]"
    assert "planted-client-secret-777" not in stream.getvalue()
    assert lines[1]["event"] == "stdlib line with [REDACTED]"
