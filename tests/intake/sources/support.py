"""Shared helpers for source tests: a fixed receipt context and whole-value comparison."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.intake.sources import FieldMapping, SourceContext, parse_body

RECEIVED = datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)
SAMPLES = Path(__file__).parent / "samples"


def context(
    source: str,
    *,
    default: Severity = Severity.MEDIUM,
    mapping: FieldMapping | None = None,
) -> SourceContext:
    return SourceContext(source=source, received_at=RECEIVED, default_severity=default, mapping=mapping)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def parse(source: str, body: Any, **kwargs: Any) -> list[CompromiseEvent]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_body(source, raw, context(source, **kwargs))


def summary(event: CompromiseEvent) -> dict[str, Any]:
    """The event as a dict without its random id and its raw copy, for whole-value asserts."""
    return event.model_dump(mode="json", exclude={"id", "raw"})


def entities(**lists: list[str]) -> dict[str, list[str]]:
    """A whole entities value: the given lists, every other list empty."""
    empty: dict[str, list[str]] = {
        "hosts": [],
        "ips": [],
        "users": [],
        "open_ids": [],
        "client_keys": [],
    }
    return {**empty, **lists}
