"""Key times and durations of an incident, computed purely from its row and its timeline entries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import IncidentRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.timeline.service import ChainBreak

__all__ = [
    "KEY_TIMES",
    "Impact",
    "KeyFigures",
    "Record",
    "actors",
    "duration_text",
    "impact",
    "key_figures",
    "load_record",
    "minutes",
]

KEY_TIMES: tuple[tuple[str, str], ...] = (
    ("aware_at", "Aware (first event received)"),
    ("disconnected_at", "Disconnected (kill switch engaged)"),
    ("revoked_at", "Tokens revoked (revocation finished)"),
    ("reported_at", "Reported to TikTok"),
    ("resolved_at", "Resolved"),
    ("closed_at", "Closed"),
)
"""Lifecycle times in the order they happen, with the label every view shows."""

# Where a time comes from when its column is not set: the first (or last) entry of a kind.
_FALLBACK: dict[str, tuple[str, bool]] = {
    "disconnected_at": (kinds.SWITCH_ENGAGED, False),
    "revoked_at": (kinds.REVOCATION_FINISHED, True),
    "reported_at": (kinds.REPORT_DELIVERED, False),
    "resolved_at": (kinds.INCIDENT_RESOLVED, False),
    "closed_at": (kinds.INCIDENT_CLOSED, False),
}


@dataclass(frozen=True)
class Record:
    """An incident, its entries in chain order and the chain's verification result."""

    incident: IncidentRow
    entries: list[TimelineEntryRow]
    chain_break: ChainBreak | None

    @property
    def verified(self) -> bool:
        return self.chain_break is None


def load_record(session: Session, *, incident_id: str) -> Record:
    """Read an incident (id or unique prefix), its entries and verify its chain."""
    incident = incidents.get_incident(session, incident_id=incident_id)
    return Record(
        incident=incident,
        entries=timeline.entries(session, incident.id),
        chain_break=timeline.verify_chain(session, incident.id),
    )


@dataclass(frozen=True)
class KeyFigures:
    """Lifecycle times (column first, else the evidencing entry) and durations from awareness."""

    times: dict[str, datetime | None]
    evidence: dict[str, int | None]
    awareness_to_disconnect: timedelta | None
    awareness_to_report: timedelta | None
    awareness_to_revoked: timedelta | None
    awareness_to_resolved: timedelta | None


def _first(entries: list[TimelineEntryRow], kind: str, *, last: bool = False) -> TimelineEntryRow | None:
    found = [entry for entry in entries if entry.kind == kind]
    if not found:
        return None
    return found[-1] if last else found[0]


def key_figures(record: Record) -> KeyFigures:
    """Key times and the durations from awareness that clause III.2(f) is judged by."""
    incident = record.incident
    times: dict[str, datetime | None] = {}
    evidence: dict[str, int | None] = {}
    for name, _label in KEY_TIMES:
        value: datetime | None = getattr(incident, name)
        entry = None
        if name in _FALLBACK:
            kind, last = _FALLBACK[name]
            entry = _first(record.entries, kind, last=last)
        elif name == "aware_at":
            entry = _first(record.entries, kinds.INCIDENT_OPENED)
        if value is None and entry is not None:
            value = entry.at
        times[name] = value
        evidence[name] = entry.seq if entry is not None else None
    aware = times["aware_at"]

    def since_aware(name: str) -> timedelta | None:
        value = times[name]
        return value - aware if value is not None and aware is not None else None

    return KeyFigures(
        times=times,
        evidence=evidence,
        awareness_to_disconnect=since_aware("disconnected_at"),
        awareness_to_report=since_aware("reported_at"),
        awareness_to_revoked=since_aware("revoked_at"),
        awareness_to_resolved=since_aware("resolved_at"),
    )


def minutes(value: timedelta | None) -> float | None:
    """A duration in minutes, rounded to hundredths (None stays None)."""
    return None if value is None else round(value.total_seconds() / 60, 2)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Impact:
    """What the revocations and purges of an incident did, summed from their finished entries."""

    revocations: int = 0
    revoked: int = 0
    already_dead: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)
    alarms: dict[str, int] = field(default_factory=dict)
    tokens_deleted: int = 0
    records_deleted: dict[str, int] = field(default_factory=dict)
    purges: int = 0


def impact(record: Record) -> Impact:
    """Sum ``revocation.finished``, ``revocation.alarm`` and ``purge.finished`` entries."""
    failures: Counter[str] = Counter()
    alarms: Counter[str] = Counter()
    records: Counter[str] = Counter()
    scopes: list[str] = []
    revocations = revoked = dead = failed = deleted = purges = 0
    for entry in record.entries:
        data = entry.data or {}
        if entry.kind == kinds.REVOCATION_STARTED:
            scope = data.get("scope")
            if scope is not None and str(scope) not in scopes:
                scopes.append(str(scope))
        elif entry.kind == kinds.REVOCATION_FINISHED:
            revocations += 1
            revoked += _int(data.get("revoked"))
            dead += _int(data.get("already_dead"))
            failed += _int(data.get("failed"))
            for reason, count in (data.get("failures") or {}).items():
                failures[str(reason)] += _int(count)
        elif entry.kind == kinds.REVOCATION_ALARM:
            alarms[str(data.get("reason", "unknown"))] += _int(data.get("count")) or 1
        elif entry.kind == kinds.PURGE_FINISHED:
            purges += 1
            deleted += _int(data.get("tokens_deleted"))
            for table, count in (data.get("records_deleted") or {}).items():
                records[str(table)] += _int(count)
    return Impact(
        revocations=revocations,
        revoked=revoked,
        already_dead=dead,
        failed=failed,
        failures=dict(failures),
        scopes=scopes,
        alarms=dict(alarms),
        tokens_deleted=deleted,
        records_deleted=dict(records),
        purges=purges,
    )


def actors(record: Record) -> list[tuple[str, int, list[str]]]:
    """Who did what: each actor, its entry count and the kinds it wrote, in order of appearance."""
    seen: dict[str, tuple[int, list[str]]] = {}
    for entry in record.entries:
        count, entry_kinds = seen.get(entry.actor, (0, []))
        if entry.kind not in entry_kinds:
            entry_kinds = [*entry_kinds, entry.kind]
        seen[entry.actor] = (count + 1, entry_kinds)
    return [(actor, count, entry_kinds) for actor, (count, entry_kinds) in seen.items()]


def duration_text(value: timedelta | float | None) -> str:
    """A duration in the unit that reads right: 43 ms, 1.2 s, 12.5 min, 26 h ('-' for None)."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    for limit, unit, size in ((120, "s", 1), (120 * 60, "min", 60)):
        if abs(seconds) < limit:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{round(seconds / 3600, 1):g} h"
