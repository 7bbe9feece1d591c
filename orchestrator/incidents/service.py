"""Store functions for incidents: look up, list, open and attach events (keyword-only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import ids, redaction
from orchestrator.errors import NotFound
from orchestrator.events.models import EventRow
from orchestrator.events.schemas import Severity
from orchestrator.incidents import entities
from orchestrator.incidents.models import CorrelationKey, IncidentRow, IncidentStatus
from orchestrator.store.db import transaction_scoped

__all__ = [
    "OPEN_STATUSES",
    "add_correlation_key",
    "attach_event",
    "correlation_key",
    "get_incident",
    "list_incidents",
    "lock_for_correlation",
    "new_incident_id",
    "open_incident",
]

T = TypeVar("T")
_LOCKED = "incidents.locked"
"""transaction_scoped: (class, key) -> the row this transaction holds FOR UPDATE, or None when it
looked and found none (a dedup key never seen: the transaction that adds it records it here)."""

OPEN_STATUSES = frozenset(
    {IncidentStatus.DETECTED.value, IncidentStatus.CONTAINED.value, IncidentStatus.REPORTED.value}
)


def new_incident_id() -> str:
    """Short, typeable ids: ``inc-`` and 12 hex characters."""
    return "inc-" + ids.random_hex(12)


def _locked(session: Session) -> dict[tuple[type, str], object | None]:
    return transaction_scoped(session, _LOCKED, dict)


def _get_locked(session: Session, cls: type[T], key: str) -> T | None:
    """``session.get(cls, key, with_for_update=True)``, but once per transaction: a worker
    correlating a storm's events in one commit locked the incident and its key for the first and
    selected them again for every other."""
    locked = _locked(session)
    if (cls, key) in locked:
        return cast(T | None, locked[(cls, key)])
    row = session.get(cls, key, with_for_update=True)
    if row is not None or cls is CorrelationKey:
        locked[(cls, key)] = row
    return row


def lock_for_correlation(session: Session, dedup_keys: Sequence[str]) -> None:
    """Lock the correlation keys of a message's events and the incidents they feed, two statements
    for the whole message instead of two per event; ``correlation_key`` and ``get_incident``
    then answer from what this locked. Keys in sorted order, then incidents in id order: every
    worker takes its locks in that order, so two messages sharing keys never deadlock."""
    locked = _locked(session)
    wanted = sorted({k for k in dedup_keys if (CorrelationKey, k) not in locked})
    if wanted:
        keys = {
            row.dedup_key: row
            for row in session.scalars(
                select(CorrelationKey)
                .where(CorrelationKey.dedup_key.in_(wanted))
                .order_by(CorrelationKey.dedup_key)
                .with_for_update()
            )
        }
        for key in wanted:
            locked[(CorrelationKey, key)] = keys.get(key)
        fed = {row.incident_id for row in keys.values()}
        ids = sorted(i for i in fed if (IncidentRow, i) not in locked)
        if ids:
            for incident in session.scalars(
                select(IncidentRow).where(IncidentRow.id.in_(ids)).order_by(IncidentRow.id).with_for_update()
            ):
                locked[(IncidentRow, incident.id)] = incident


def get_incident(session: Session, *, incident_id: str, for_update: bool = False) -> IncidentRow:
    """The incident by id (or unique id prefix); NotFound names the id."""
    row = (
        _get_locked(session, IncidentRow, incident_id)
        if for_update
        else session.get(IncidentRow, incident_id)
    )
    if row is None and len(incident_id) >= 4:
        matches = list(
            session.scalars(select(IncidentRow).where(IncidentRow.id.startswith(incident_id)).limit(2))
        )
        if len(matches) == 1:
            row = session.get(IncidentRow, matches[0].id, with_for_update=for_update)
    if row is None:
        # The id comes from the caller (a URL): a token pasted there is not echoed back.
        raise NotFound(f"no incident with id '{redaction.redact_text(incident_id)[:100]}'")
    return row


def list_incidents(session: Session, *, status: str | None = None, limit: int = 100) -> Sequence[IncidentRow]:
    """Newest first."""
    query = select(IncidentRow).order_by(IncidentRow.aware_at.desc()).limit(limit)
    if status:
        query = query.where(IncidentRow.status == status)
    return list(session.scalars(query))


def open_incident(session: Session, *, event: EventRow, now: datetime) -> IncidentRow:
    """A new incident from its first event; awareness is when that event was received."""
    incident = IncidentRow(
        id=new_incident_id(),
        dedup_key=event.dedup_key,
        title=event.title,
        kind=event.kind,
        severity=event.severity,
        status=IncidentStatus.DETECTED.value,
        source=event.source,
        entities={},  # filled by attach_event (incidents/entities.py), in place
        entity_counts={},
        event_count=0,
        resolved_signals=0,
        is_drill=bool((event.labels or {}).get("drill") == "true"),
        aware_at=event.received_at,
        last_event_at=now,
    )
    session.add(incident)  # inserted with the transaction's next flush, before the rows naming it
    _locked(session)[(IncidentRow, incident.id)] = incident
    return incident


def attach_event(session: Session, *, incident: IncidentRow, event: EventRow, now: datetime) -> bool:
    """Count an event into its incident; True when it raised the incident's severity."""
    event.incident_id = incident.id
    incident.event_count += 1
    incident.last_event_at = now
    entities.merge(session, incident, event.entities or {})
    if event.status == "resolved":
        incident.resolved_signals += 1
        return False
    if Severity(event.severity).rank > Severity(incident.severity).rank:
        incident.severity = event.severity
        return True
    return False


def correlation_key(session: Session, *, dedup_key: str) -> CorrelationKey | None:
    """The dedup key's correlation row, locked for this transaction (None for a new key)."""
    return _get_locked(session, CorrelationKey, dedup_key)


def add_correlation_key(session: Session, *, dedup_key: str, incident_id: str, now: datetime) -> None:
    """Record a new dedup key feeding ``incident_id``; the rest of the transaction finds it."""
    row = CorrelationKey(dedup_key=dedup_key, incident_id=incident_id, last_seen_at=now)
    session.add(row)
    _locked(session)[(CorrelationKey, dedup_key)] = row
