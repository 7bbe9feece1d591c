"""Store rows written straight for tests of what happens to old data (retention, dead letters)."""

from __future__ import annotations

from datetime import datetime

from orchestrator.events.models import EventRow

__all__ = ["event_row"]

_LOW = {"source": "generic", "kind": "host.compromise", "severity": "low", "status": "firing"}


def event_row(event_id: str, *, at: datetime, incident_id: str | None) -> EventRow:
    """A low event received at ``at`` with a raw body, correlated to ``incident_id`` (or not yet)."""
    plain = {"entities": {}, "labels": {}, "raw": {"body": event_id}, "incident_id": incident_id}
    return EventRow(
        id=event_id, title=event_id, dedup_key=event_id, observed_at=at, received_at=at, **_LOW, **plain
    )
