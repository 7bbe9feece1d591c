"""Store rows written straight for tests of what happens to data already there (retention, dead
letters, an open incident's pages)."""

from __future__ import annotations

from datetime import datetime

from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow

__all__ = ["event_row", "incident_row"]

_LOW = {"source": "generic", "kind": "host.compromise", "severity": "low", "status": "firing"}


def event_row(event_id: str, *, at: datetime, incident_id: str | None) -> EventRow:
    """A low event received at ``at`` with a raw body, correlated to ``incident_id`` (or not yet)."""
    plain = {"entities": {}, "labels": {}, "raw": {"body": event_id}, "incident_id": incident_id}
    return EventRow(
        id=event_id, title=event_id, dedup_key=event_id, observed_at=at, received_at=at, **_LOW, **plain
    )


def incident_row(incident_id: str, *, at: datetime, severity: str, title: str) -> IncidentRow:
    """A contained incident of one event, aware at ``at``."""
    return IncidentRow(
        id=incident_id,
        dedup_key=incident_id,
        title=title,
        kind="credential.leak",
        severity=severity,
        status="contained",
        source="generic",
        entities={},
        event_count=1,
        resolved_signals=0,
        is_drill=False,
        aware_at=at,
        last_event_at=at,
    )
