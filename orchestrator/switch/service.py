"""Engage, release and read the kill switch inside the caller's transaction, with timeline entries.

Every change locks the one switch row, bumps its ``version`` and appends a timeline entry in
the same transaction, so the switch and its history never disagree. Engaging for an incident
also sets that incident's ``disconnected_at`` the first time (clause III.2(f) evidence): the
moment the switch was engaged if that was after the incident's awareness, else now.
Release always needs a reason and a person: nothing in the orchestrator releases on its own.
A change also owes a ``switch.changed`` outbox row in that transaction: the switch is global, so
every open incident's card must show it, and the row makes that survive a killed process.

There is a switch per TikTok app (``app``, a configured name) and one for all apps (``app``
None, the one row of old); an app is disconnected while either is engaged. Releasing one never
releases another. Every change locks the all-apps row first, so changes are serialised and the
board's ``version`` (the sum of every row's) grows by one per change: mirrors and the guard
compare it as they did the one switch's version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
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

__all__ = [
    "CHANGED_TOPIC",
    "SwitchBoard",
    "SwitchChange",
    "SwitchState",
    "board",
    "engage",
    "history",
    "release",
    "status",
]

CHANGED_TOPIC = "switch.changed"
"""Outbox topic owed by every change (``ref_id`` the board's new version, ``payload`` the app
when one app's switch changed): refresh every open card."""

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
    app: str | None = None
    """The app whose switch this is; None: the all-apps switch."""

    def as_dict(self) -> dict[str, Any]:
        named = {"app": self.app} if self.app is not None else {}
        return {
            **named,
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
class SwitchBoard:
    """Every switch: the all-apps one and each configured app's (in the configuration's order).

    ``version`` counts the changes of every switch (the sum of their versions); what the
    mirrors carry: the all-apps switch at the top (what a guard of the previous release reads)
    and each app's flag under ``apps``."""

    all: SwitchState
    apps: dict[str, SwitchState]
    version: int

    def engaged_for(self, app: str) -> bool:
        """Whether ``app`` may not call TikTok: its switch or the all-apps switch is engaged."""
        return self.all.engaged or self.apps[app].engaged

    def as_dict(self) -> dict[str, Any]:
        return {**self.all.as_dict(), "apps": {name: state.as_dict() for name, state in self.apps.items()}}

    def mirror_dict(self) -> dict[str, Any]:
        """What the application may see through a mirror: the flags, not who or why."""
        return {
            **self.all.mirror_dict(),
            "version": self.version,
            "apps": {name: state.mirror_dict() for name, state in self.apps.items()},
        }

    def app_dict(self, app: str, *, operator: bool) -> dict[str, Any]:
        """One app's view: engaged when either of its switches is, and (operators) both switches."""
        view: dict[str, Any] = {"app": app, "engaged": self.engaged_for(app), "version": self.version}
        if operator:
            return {**view, "switch": self.apps[app].as_dict(), "all_apps": self.all.as_dict()}
        times = [t for t in (self.all.changed_at, self.apps[app].changed_at) if t is not None]
        return {**view, "changed_at": max(times).isoformat() if times else None}


@dataclass(frozen=True, slots=True)
class SwitchChange:
    """The state after an engage or release, and whether the call changed it."""

    state: SwitchState
    changed: bool


def _state(row: KillSwitchRow) -> SwitchState:
    return SwitchState(
        app=row.app,
        engaged=bool(row.engaged),
        by=row.by,
        reason=row.reason,
        approved_by=row.approved_by,
        incident_id=row.incident_id,
        changed_at=row.changed_at,
        version=int(row.version or 0),
    )


def _row(session: Session, *, lock: bool) -> KillSwitchRow:
    """The all-apps switch's row."""
    query = select(KillSwitchRow).where(KillSwitchRow.id == SWITCH_ROW_ID)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:  # a store built without migration 0003's seed row
        row = KillSwitchRow(id=SWITCH_ROW_ID, engaged=False, version=0)
        session.add(row)
        session.flush()
    return row


def _app_row(session: Session, app: str, *, lock: bool) -> KillSwitchRow | None:
    """``app``'s row; None when its switch was never engaged."""
    query = select(KillSwitchRow).where(KillSwitchRow.app == app)
    return session.scalars(query.with_for_update() if lock else query).first()


def _locked(session: Session, app: str | None) -> KillSwitchRow:
    """The row a change of ``app``'s switch writes, locked after the all-apps row (which every
    change locks first, so changes are serialised), made the first time."""
    everyone = _row(session, lock=True)
    if app is None:
        return everyone
    row = _app_row(session, app, lock=True)
    if row is None:
        last = session.scalar(select(func.max(KillSwitchRow.id))) or SWITCH_ROW_ID
        row = KillSwitchRow(id=last + 1, app=app, engaged=False, version=0)
        session.add(row)
        session.flush()
    return row


def _released(app: str) -> SwitchState:
    return SwitchState(False, None, None, None, None, None, 0, app)


def _board_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(KillSwitchRow.version), 0))) or 0)


def _clean(value: str | None, name: str, limit: int) -> str:
    """Required, trimmed, bounded, and with anything secret-shaped masked (people paste tokens)."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"{name} is required", field=name)
    return redaction.redact_text(text)[:limit]


def status(session: Session, *, app: str | None = None, lock: bool = False) -> SwitchState:
    """The current state of ``app``'s switch (None: the all-apps switch); a never-touched
    switch is released, version 0.

    ``lock`` holds the row until the transaction ends, so no change can slip in meanwhile.
    """
    everyone = _row(session, lock=lock)
    if app is None:
        return _state(everyone)
    row = _app_row(session, app, lock=lock)
    return _released(app) if row is None else _state(row)


def board(session: Session, apps: Sequence[str], *, lock: bool = False) -> SwitchBoard:
    """Every switch: the all-apps one and those of ``apps`` (the configured names); ``lock``
    holds the all-apps row, so no change can slip in meanwhile."""
    everyone = _state(_row(session, lock=lock))
    rows = session.scalars(select(KillSwitchRow).where(KillSwitchRow.id != SWITCH_ROW_ID)).all()
    by_app = {row.app: _state(row) for row in rows}
    return SwitchBoard(
        all=everyone,
        apps={name: by_app.get(name) or _released(name) for name in apps},
        version=everyone.version + sum(state.version for state in by_app.values()),
    )


def engage(
    session: Session,
    *,
    by: str,
    reason: str,
    app: str | None = None,
    incident_id: str | None = None,
    approved_by: str | None = None,
    before_commit: Callable[[SwitchState], None] | None = None,
) -> SwitchChange:
    """Engage ``app``'s switch (None: the all-apps switch); idempotent: an engaged switch stays
    as it is but the fact is recorded.

    The timeline entry goes on the incident's chain (or the system chain). ``before_commit``
    runs with the new state while the row is still locked: the flows publish the mirrors
    there, so an application stops calling TikTok before the commit, never later.
    """
    who = _clean(by, "by", _MAX_NAME)
    why = _clean(reason, "reason", _MAX_REASON)
    approved_by = _clean(approved_by, "approved_by", _MAX_NAME) if approved_by else None
    incident = _incident(session, incident_id)
    row = _locked(session, app)
    now = clock.utcnow()
    changed = not row.engaged
    if changed:
        now = _change(
            session, row, engaged=True, who=who, why=why, approved_by=approved_by, incident_id=incident_id
        )
    state = _state(row)
    message = f"{_named(app)} engaged" if changed else f"{_named(app)} already engaged"
    since: dict[str, str] = {}
    if incident is not None:
        # Engaged since awareness (the intake engages it for a critical event, critical first,
        # before the worker correlates it): the incident was disconnected then, not now. The
        # entry takes that time; written after the run's first entries, the timeline's order
        # keeps it at theirs, and its message and data say when it was engaged.
        if not changed and row.changed_at is not None and row.changed_at >= incident.aware_at:
            now = row.changed_at
            since = {"engaged_at": now.isoformat(timespec="microseconds")}
            message += f" since {now.isoformat(timespec='milliseconds')} by {row.by}"
        lifecycle.mark_disconnected(incident, at=now)
    timeline.append_entry(
        session,
        chain=incident_id or SYSTEM_CHAIN,
        actor=who,
        kind=kinds.SWITCH_ENGAGED,
        message=f"{message}: {why}",
        data={
            **_app_data(app),
            "by": who,
            "reason": why,
            "approved_by": approved_by,
            "already_engaged": not changed,
            "version": state.version,
            **since,
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
    app: str | None = None,
    approved_by: str | None = None,
    incident_id: str | None = None,
) -> SwitchChange:
    """Release ``app``'s switch (None: the all-apps switch; no other); refuses without ``by``
    and ``reason``. Releasing a released switch is a no-op."""
    who = _clean(by, "by", _MAX_NAME)
    why = _clean(reason, "reason", _MAX_REASON)
    approved_by = _clean(approved_by, "approved_by", _MAX_NAME) if approved_by else None
    _incident(session, incident_id)
    current = status(session, app=app, lock=True)
    if not current.engaged:
        return SwitchChange(state=current, changed=False)
    row = _locked(session, app)
    now = _change(
        session, row, engaged=False, who=who, why=why, approved_by=approved_by, incident_id=incident_id
    )
    state = _state(row)
    timeline.append_entry(
        session,
        chain=incident_id or SYSTEM_CHAIN,
        actor=who,
        kind=kinds.SWITCH_RELEASED,
        message=f"{_named(app)} released: {why}",
        data={
            **_app_data(app),
            "by": who,
            "reason": why,
            "approved_by": approved_by,
            "version": state.version,
        },
        at=now,
    )
    return SwitchChange(state=state, changed=True)


def _change(
    session: Session,
    row: KillSwitchRow,
    *,
    engaged: bool,
    who: str,
    why: str,
    approved_by: str | None,
    incident_id: str | None,
) -> datetime:
    """Write one change on a locked row and owe its ``switch.changed`` row (``ref_id`` the
    board's version, unique since changes are serialised); when it happened."""
    now = clock.utcnow()
    row.engaged = engaged
    row.by, row.reason, row.approved_by = who, why, approved_by
    row.incident_id = incident_id
    row.changed_at = now
    row.version = int(row.version or 0) + 1
    session.flush()
    payload = _app_data(row.app) or None
    outbox.enqueue(
        session, topic=CHANGED_TOPIC, ref_id=str(_board_version(session)), now=now, payload=payload
    )
    return now


def _named(app: str | None) -> str:
    return "kill switch" if app is None else f"kill switch of app {app}"


def _app_data(app: str | None) -> dict[str, Any]:
    return {} if app is None else {"app": app}


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
