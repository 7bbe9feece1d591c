"""The one owner of an incident's status and lifecycle times: disconnected, revoked, reported
(each the first time only, the callers holding the row's lock), then resolved and closed with a
summary recorded on the timeline; and its severity when a person changes it. The resolution
of an incident someone was paged about is news for the pages: an outbox row
``incident.resolved`` in the same commit resolves them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity
from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import IncidentRow, IncidentStatus
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = [
    "MAX_SUMMARY_CHARS",
    "PAGED_KIND",
    "RESOLVED_TOPIC",
    "close_incident",
    "mark_disconnected",
    "mark_reported",
    "mark_revoked",
    "resolve_incident",
    "set_severity",
]

MAX_SUMMARY_CHARS = 4000
RESOLVED_TOPIC = "incident.resolved"
"""The outbox topic a resolution writes (ref_id: the incident) when someone was paged about it."""
PAGED_KIND = "page.sent"
"""The timeline kind that says someone was paged about the incident (``paging/``)."""


def mark_disconnected(incident: IncidentRow, *, at: datetime) -> None:
    """The kill switch engaged for ``incident``: ``disconnected_at`` (the first time), and a
    detected incident is contained."""
    if incident.disconnected_at is None:
        incident.disconnected_at = at
        if incident.status == IncidentStatus.DETECTED.value:
            incident.status = IncidentStatus.CONTAINED.value


def mark_revoked(incident: IncidentRow, *, at: datetime) -> None:
    """Every token of the incident's scope is settled: ``revoked_at`` (the first time)."""
    if incident.revoked_at is None:
        incident.revoked_at = at


def mark_reported(incident: IncidentRow, *, at: datetime) -> None:
    """The report reached TikTok's contact: ``reported_at`` (the first time), and an incident not
    yet further along is reported."""
    if incident.reported_at is None:
        incident.reported_at = at
        if incident.status in (IncidentStatus.DETECTED.value, IncidentStatus.CONTAINED.value):
            incident.status = IncidentStatus.REPORTED.value


def _summary(summary: str) -> str:
    text = summary.strip()
    if not text:
        raise ValidationFailed("summary: a summary is required (what happened and how it ended)")
    if len(text) > MAX_SUMMARY_CHARS:
        raise ValidationFailed(f"summary: at most {MAX_SUMMARY_CHARS} characters, got {len(text)}")
    return text


def resolve_incident(
    session: Session, *, incident_id: str, summary: str, actor: str, now: datetime
) -> IncidentRow:
    """Mark an open incident resolved with a summary; append ``incident.resolved``, and owe the
    news to its pages, if any (``RESOLVED_TOPIC``)."""
    text = _summary(summary)
    incident = incidents.get_incident(session, incident_id=incident_id, for_update=True)
    if incident.status not in incidents.OPEN_STATUSES:
        raise ValidationFailed(f"incident {incident.id} is already {incident.status}; only open ones resolve")
    incident.status = IncidentStatus.RESOLVED.value
    incident.resolved_at = now
    incident.summary = text
    timeline.append_entry(
        session,
        chain=incident.id,
        actor=actor,
        kind=kinds.INCIDENT_RESOLVED,
        message=f"Incident resolved: {text}",
        data={"summary": text},
        at=now,
    )
    if timeline.data_of(session, chain=incident.id, kind=PAGED_KIND):
        outbox.enqueue(session, topic=RESOLVED_TOPIC, ref_id=incident.id, now=now)
    return incident


def close_incident(
    session: Session, *, incident_id: str, summary: str, actor: str, now: datetime
) -> IncidentRow:
    """Close a resolved incident with a closing summary; append ``incident.closed``."""
    text = _summary(summary)
    incident = incidents.get_incident(session, incident_id=incident_id, for_update=True)
    if incident.status != IncidentStatus.RESOLVED.value:
        raise ValidationFailed(
            f"incident {incident.id} is {incident.status}; resolve it first "
            f"(orchestrator incident resolve {incident.id} --summary ...)"
        )
    incident.status = IncidentStatus.CLOSED.value
    incident.closed_at = now
    incident.summary = f"{incident.summary}\n\n{text}" if incident.summary else text
    timeline.append_entry(
        session,
        chain=incident.id,
        actor=actor,
        kind=kinds.INCIDENT_CLOSED,
        message=f"Incident closed: {text}",
        data={"summary": text},
        at=now,
    )
    return incident


def set_severity(
    session: Session, *, incident_id: str, severity: Severity, actor: str, now: datetime
) -> Severity:
    """A person sets an open incident's severity; the one it had. A raise is ``incident.escalated`` (``from``,
    ``to``, ``by``), as when a more severe event arrives, but starts no playbooks: those follow
    events (the next event at the new level starts what matches it), and a person who wants the
    switch engaged now says so. A lowering is a ``note`` with the
    same data. Either names who changed it."""
    incident = incidents.get_incident(session, incident_id=incident_id, for_update=True)
    if incident.status not in incidents.OPEN_STATUSES:
        raise ValidationFailed(f"incident {incident.id} is {incident.status}; only open ones change severity")
    previous = Severity(incident.severity)
    if severity == previous:
        raise ValidationFailed(f"incident {incident.id} is already {severity.value}")
    raised = severity.rank > previous.rank
    word = "raised" if raised else "lowered"
    incident.severity = severity.value
    timeline.append_entry(
        session,
        chain=incident.id,
        actor=actor,
        kind=kinds.INCIDENT_ESCALATED if raised else kinds.NOTE,
        message=f"Severity {word} from {previous.value} to {severity.value} by {actor}",
        data={"from": previous.value, "to": severity.value, "by": actor},
        at=now,
    )
    return previous
