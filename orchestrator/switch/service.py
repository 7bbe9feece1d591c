"""Engage, release and read the kill switch inside the caller's transaction, with timeline entries.

Every change locks the one switch row, bumps its ``version`` and appends a timeline entry in
the same transaction, so the switch and its history never disagree. Engaging for an incident
also sets that incident's ``disconnected_at`` the first time (clause III.2(f) evidence): the
moment the switch was engaged if that was after the incident's awareness, else now.
Release always needs a reason and a person: nothing in the orchestrator releases on its own.
A change also owes a ``switch.changed`` outbox row in that transaction: the switch is global, so
every open incident's card must show it, and the row makes that survive a killed process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import clock, redaction
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.incidents import lifecycle
from orchestrator.incidents.models import IncidentRow
from orchestrator.store import outbox
from orchestrator.switch.models import SWITCH_ROW_ID, KillSwitchRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN, TimelineEntryRow

__all__ = ["CHANGED_TOPIC", "SwitchChange", "SwitchState", "engage", "history", "release", "status"]

CHANGED_TOPIC = "switch.changed"
"""Outbox topic owed by every change (``ref_id`` the new version): refresh every open card."""

_MAX_REASON = 2000
_MAX_NAME = 128


@dataclass(frozen=True, slots=True)
class SwitchState:
    """The switch as stored: who changed it last, when, why, and its change counter."""

    engaged: bool
    by: str | None
    reason: str | None
    approved_by: str | None
    incident_id: str | None
    changed_at: datetime | None
    version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "engaged": self.engaged,
            "by": self.by,
            "reason": self.reason,
            "approved_by": self.approved_by,
            "incident_id": self.incident_id,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "version": self.version,
        }

    def mirror_dict(self) -> dict[str, Any]:
        """What the application may see through a mirror: the flag, not who or why."""
        return {
            "engaged": self.engaged,
            "version": self.version,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


@dataclass(frozen=True, slots=True)
class SwitchChange:
    """The state after an engage or release, and whether the call changed it."""

    state: SwitchState
    changed: bool


def _state(row: KillSwitchRow) -> SwitchState:
    return SwitchState(
        engaged=bool(row.engaged),
        by=row.by,
        reason=row.reason,
        approved_by=row.approved_by,
        incident_id=row.incident_id,
        changed_at=row.changed_at,
        version=int(row.version or 0),
    )


def _row(session: Session, *, lock: bool) -> KillSwitchRow:
    query = select(KillSwitchRow).where(KillSwitchRow.id == SWITCH_ROW_ID)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:  # a store built without migration 0003's seed row
        row = KillSwitchRow(id=SWITCH_ROW_ID, engaged=False, version=0)
        session.add(row)
        session.flush()
    return row


def _clean(value: str | None, name: str, limit: int) -> str:
    """Required, trimmed, bounded, and with anything secret-shaped masked (people paste tokens)."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"{name} is required", field=name)
    return redaction.redact_text(text)[:limit]


def status(session: Session, *, lock: bool = False) -> SwitchState:
    """The current state (a never-touched switch is released, version 0).

    ``lock`` holds the row until the transaction ends, so no change can slip in meanwhile.
    """
    return _state(_row(session, lock=lock))


def engage(
    session: Session,
    *,
    by: str,
    reason: str,
    incident_id: str | None = None,
    approved_by: str | None = None,
    before_commit: Callable[[SwitchState], None] | None = None,
) -> SwitchChange:
    """Engage the switch; idempotent: an engaged switch stays as it is but the fact is recorded.

    The timeline entry goes on the incident's chain (or the system chain). ``before_commit``
    runs with the new state while the row is still locked: the flows publish the mirrors
    there, so an application stops calling TikTok before the commit, never later.
    """
    who = _clean(by, "by", _MAX_NAME)
    why = _clean(reason, "reason", _MAX_REASON)
    approved_by = _clean(approved_by, "approved_by", _MAX_NAME) if approved_by else None
    incident = _incident(session, incident_id)
    row = _row(session, lock=True)
    now = clock.utcnow()
    changed = not row.engaged
    if changed:
        row.engaged = True
        row.by, row.reason, row.approved_by = who, why, approved_by
        row.incident_id = incident_id
        row.changed_at = now
        row.version = int(row.version or 0) + 1
        session.flush()
        outbox.enqueue(session, topic=CHANGED_TOPIC, ref_id=str(row.version), now=now)
    state = _state(row)
    if incident is not None:
        # Engaged since awareness (the intake engages it for a critical event, critical first,
        # before the worker correlates it): the incident was disconnected then, not now.
        since = row.changed_at
        engaged_for_it = not changed and since is not None and since >= incident.aware_at
        lifecycle.mark_disconnected(incident, at=since if engaged_for_it and since is not None else now)
    message = "kill switch engaged" if changed else "kill switch already engaged"
    timeline.append_entry(
        session,
        chain=incident_id or SYSTEM_CHAIN,
        actor=who,
        kind=kinds.SWITCH_ENGAGED,
        message=f"{message}: {why}",
        data={
            "by": who,
            "reason": why,
            "approved_by": approved_by,
            "already_engaged": not changed,
            "version": state.version,
        },
        at=now,
    )
    if before_commit is not None:
        before_commit(state)
    return SwitchChange(state=state, changed=changed)


def release(
    session: Session,
    *,
    by: str,
    reason: str,
    approved_by: str | None = None,
    incident_id: str | None = None,
) -> SwitchChange:
    """Release the switch; refuses without ``by`` and ``reason``. Releasing a released switch is a no-op."""
    who = _clean(by, "by", _MAX_NAME)
    why = _clean(reason, "reason", _MAX_REASON)
    approved_by = _clean(approved_by, "approved_by", _MAX_NAME) if approved_by else None
    _incident(session, incident_id)
    row = _row(session, lock=True)
    if not row.engaged:
        return SwitchChange(state=_state(row), changed=False)
    now = clock.utcnow()
    row.engaged = False
    row.by, row.reason, row.approved_by = who, why, approved_by
    row.incident_id = incident_id
    row.changed_at = now
    row.version = int(row.version or 0) + 1
    session.flush()
    outbox.enqueue(session, topic=CHANGED_TOPIC, ref_id=str(row.version), now=now)
    state = _state(row)
    timeline.append_entry(
        session,
        chain=incident_id or SYSTEM_CHAIN,
        actor=who,
        kind=kinds.SWITCH_RELEASED,
        message=f"kill switch released: {why}",
        data={"by": who, "reason": why, "approved_by": approved_by, "version": state.version},
        at=now,
    )
    return SwitchChange(state=state, changed=True)


def history(session: Session, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest switch changes on every chain (system and incidents), newest first."""
    rows = session.scalars(
        select(TimelineEntryRow)
        .where(TimelineEntryRow.kind.in_([kinds.SWITCH_ENGAGED, kinds.SWITCH_RELEASED]))
        .order_by(TimelineEntryRow.at.desc(), TimelineEntryRow.id.desc())
        .limit(limit)
    )
    return [{"chain": row.chain, **row.as_dict()} for row in rows]


def _incident(session: Session, incident_id: str | None) -> IncidentRow | None:
    if incident_id is None:
        return None
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    return incident
