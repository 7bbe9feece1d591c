"""Keeps each incident's Slack card current with ``chat.update``, throttled per incident.

At most one update per ``slack_card_min_interval_seconds`` per incident: the slot is taken
with a compare-and-set on the room row, so several workers share one budget. A change that
arrives inside the interval marks the card dirty and a timer (and the scheduler job
``flusher``) sends it when the interval ends; the state is read at send time, so the last
state always lands. ``refresh_card`` never raises: Slack trouble must not block containment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from orchestrator import clock, redaction
from orchestrator.chatops import card_apps, cards, participants
from orchestrator.chatops.client import SlackClient, SlackError, client_for
from orchestrator.chatops.models import SlackRoomRow
from orchestrator.chatops.names import names_for
from orchestrator.events.models import EventRow
from orchestrator.incidents import news
from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import IncidentRow
from orchestrator.logging import get_logger
from orchestrator.playbooks import manual
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.ports import Ports
from orchestrator.proof import census
from orchestrator.proof.summary import Exposure
from orchestrator.reporting.models import TikTokReportRow
from orchestrator.store import outbox
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import service as switch
from orchestrator.timeline import checkpoints, kinds
from orchestrator.timeline.models import TimelineEntryRow

__all__ = ["card_state", "flusher", "refresh_card", "refresh_changed_card", "refresh_open_cards"]

_log = get_logger(__name__)
_timers_lock = threading.Lock()
_timers: set[str] = set()


def _revocation(session: Session, incident_id: str) -> cards.Revocation | None:
    row = session.scalars(
        select(TimelineEntryRow)
        .where(
            TimelineEntryRow.chain == incident_id,
            TimelineEntryRow.kind.in_(
                [kinds.REVOCATION_STARTED, kinds.REVOCATION_PROGRESS, kinds.REVOCATION_FINISHED]
            ),
        )
        .order_by(TimelineEntryRow.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    data: dict[str, Any] = row.data or {}

    def count(key: str) -> int:
        value = data.get(key)
        return int(value) if isinstance(value, int | float) else 0

    revoked, dead, failed = count("revoked"), count("already_dead"), count("failed")
    total = data.get("total")
    done = count("done") or revoked + dead + failed + count("gone")
    return cards.Revocation(
        done=done,
        total=int(total) if isinstance(total, int | float) else None,
        revoked=revoked,
        already_dead=dead,
        failed=failed,
        finished=row.kind == kinds.REVOCATION_FINISHED,
        at=row.at,
    )


def _sent_state(session: Session, incident: IncidentRow) -> str:
    rows = list(session.scalars(select(TikTokReportRow).where(TikTokReportRow.incident_id == incident.id)))
    sent = [r for r in rows if r.status == "sent"]
    if sent:
        return "✅ delivered (" + ", ".join(sorted(r.channel for r in sent)) + ")"
    if incident.reported_at is not None:
        return "✅ reported"
    if rows:
        return f"⏳ sending (attempt {max(r.attempts for r in rows)})"
    return "not sent"


def _report_state(session: Session, incident: IncidentRow, waiting: tuple[cards.PendingApproval, ...]) -> str:
    """The automatic report's state, then the filing in TikTok's portal when a playbook asks a
    person for it: the two are different acts, and the card says which one is still to do."""
    state = _sent_state(session, incident)
    filed = session.scalars(
        select(TimelineEntryRow)
        .where(TimelineEntryRow.chain == incident.id, TimelineEntryRow.kind == kinds.MANUAL_COMPLETED)
        .order_by(TimelineEntryRow.seq)
    ).all()
    tickets = [e.data.get("evidence_value") for e in filed if (e.data or {}).get("evidence") == "report"]
    if any(tickets):
        ticket = redaction.redact_text(str(next(t for t in tickets if t)))[:64]
        return f"{state}\n🎫 filed in TikTok's portal: ticket {ticket}"
    if any(p.files_report for p in waiting):
        return f"{state}\n🖐 filing in TikTok's portal: to do by a person (below)"
    return state


def _waiting(session: Session, incident_id: str) -> tuple[cards.PendingApproval, ...]:
    rows = session.execute(
        select(RunRow, StepRunRow.step_id)
        .join(StepRunRow, RunRow.id == StepRunRow.run_id)
        .where(
            RunRow.incident_id == incident_id,
            StepRunRow.status == "waiting_approval",
            StepRunRow.approval.is_(None),
        )
        .order_by(StepRunRow.id)
    ).all()
    waiting = []
    for run, step_id in rows:
        step = runs.snapshot(run).step(step_id)
        params = manual.manual_params(step) if manual.is_manual(step) else None
        waiting.append(
            cards.PendingApproval(
                run_id=run.id,
                step_id=step_id,
                playbook=run.playbook_name,
                manual_title=params.title if params else None,
                needs=params.input if params else None,
                instructions=params.instructions if params else "",
                files_report=bool(params and params.evidence == "report"),
            )
        )
    return tuple(waiting)


def _exposure(session: Session, incident_id: str, latest: census.Census | None) -> Exposure | None:
    if latest is None:
        return None
    return Exposure(
        exposed_at_awareness=latest.exposed_at_awareness,
        still_exposed=latest.still_exposed,
        phase=latest.phase,
        counts=latest.counts,
        escalate=latest.escalate or census.escalated(session, chain=incident_id),
        evidence=[],
    )


def _source_ref(session: Session, incident_id: str) -> str | None:
    """The SIEM's reference of the incident's first event that has one."""
    return session.scalars(
        select(EventRow.source_ref)
        .where(EventRow.incident_id == incident_id, EventRow.source_ref.is_not(None))
        .order_by(EventRow.received_at)
        .limit(1)
    ).first()


def card_state(session: Session, incident_id: str, *, app_names: Sequence[str]) -> cards.CardState:
    """What the card of ``incident_id`` shows now; ``app_names``: the configured TikTok apps."""
    incident = session.get(IncidentRow, incident_id)
    if incident is None:
        raise LookupError(incident_id)
    board = switch.board(session, app_names)
    people = participants.roster(session, incident_id)
    waiting = _waiting(session, incident_id)
    latest_census = census.latest_census(session, chain=incident_id)
    return cards.CardState(
        incident_id=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        switch_engaged=board.all.engaged,
        aware_at=incident.aware_at,
        kind=incident.kind,
        hosts=tuple((incident.entities or {}).get("hosts") or ()),
        source=incident.source,
        source_ref=_source_ref(session, incident_id),
        disconnected_at=incident.disconnected_at,
        revoked_at=incident.revoked_at,
        reported_at=incident.reported_at,
        revocation=_revocation(session, incident_id),
        report_state=_report_state(session, incident, waiting),
        approvals=waiting,
        exposure=_exposure(session, incident_id, latest_census),
        census_at=latest_census.taken_at if latest_census else None,
        checkpoint=checkpoints.latest(session, incident_id),
        lead=people.lead,
        involved=people.involved,
        apps=card_apps.app_states(session, incident, board, app_names),
    )


def _schedule(runtime: Ports, incident_id: str, delay: float, client: SlackClient | None) -> None:
    with _timers_lock:
        if incident_id in _timers:
            return
        _timers.add(incident_id)

    def fire() -> None:
        with _timers_lock:
            _timers.discard(incident_id)
        refresh_card(runtime, incident_id, client=client, only_if_dirty=True)

    timer = threading.Timer(max(delay, 0.0) + 0.05, fire)
    timer.daemon = True
    timer.start()


def refresh_card(
    runtime: Ports, incident_id: str, *, client: SlackClient | None = None, only_if_dirty: bool = False
) -> bool:
    """Update the incident's card now if its interval allows, else later; True if sent now.

    Does nothing (False) when Slack is off or the incident has no room yet. Safe to call
    from any process and as often as state changes.
    """
    settings = runtime.settings
    if settings.slack_bot_token is None:
        return False
    interval = float(settings.slack_card_min_interval_seconds)
    try:
        with runtime.store.unit_of_work() as session:
            room = session.get(SlackRoomRow, incident_id, with_for_update=True)
            if room is None or room.card_ts is None or (only_if_dirty and not room.card_dirty):
                return False
            now = clock.utcnow()
            if room.card_updated_at is not None:
                elapsed = (now - room.card_updated_at).total_seconds()
                if elapsed < interval:
                    room.card_dirty = True
                    wait = interval - elapsed
                    channel = ts = None
                else:
                    wait = None
            else:
                wait = None
            if wait is None:
                room.card_updated_at, room.card_dirty = now, False
                channel, ts = room.channel_id, room.card_ts
                state = card_state(session, incident_id, app_names=settings.app_names)
        if wait is not None or channel is None or ts is None:
            _schedule(runtime, incident_id, wait or interval, client)
            return False
        text, blocks = cards.incident_card(state, names_for(settings))  # names asked outside the lock
        (client or client_for(settings)).update(channel, ts, text=text, blocks=blocks)
        return True
    except SlackError as exc:
        _log.warning("slack_card_update_failed", incident_id=incident_id, error=exc.code)
        _mark_dirty(runtime, incident_id)
        return False
    except Exception as exc:  # the card is a convenience: never fail the caller
        _log.warning("slack_card_update_failed", incident_id=incident_id, error=type(exc).__name__)
        return False


def _mark_dirty(runtime: Ports, incident_id: str) -> None:
    try:
        with runtime.store.unit_of_work() as session:
            room = session.get(SlackRoomRow, incident_id)
            if room is not None:
                room.card_dirty = True
    except Exception as exc:
        _log.warning("slack_card_mark_failed", incident_id=incident_id, error=type(exc).__name__)


def refresh_open_cards(runtime: Ports, *, outbox_id: int) -> int:
    """The kill switch changed (``switch.changed`` row ``outbox_id``): refresh the card of every
    open incident; how many were sent now (the others follow within their interval)."""
    return _refresh_rooms(
        runtime,
        outbox_id,
        lambda _row: (
            select(SlackRoomRow)
            .join(IncidentRow, IncidentRow.id == SlackRoomRow.incident_id)
            .where(IncidentRow.status.in_(sorted(incidents.OPEN_STATUSES)))
        ),
    )


def owe_refresh(runtime: Ports, incident_id: str) -> None:
    """Owe the incident a fresher card after a Slack action changed it: a ``news.changed`` row
    that a worker sends, so the action's answer to Slack never waits on ``chat.update``."""
    with runtime.transaction() as session:
        news.changed(session, incident_id=incident_id, at=clock.utcnow())


def refresh_changed_card(runtime: Ports, *, outbox_id: int) -> int:
    """One incident changed (``incident.changed`` row ``outbox_id``): refresh its card."""
    return _refresh_rooms(
        runtime, outbox_id, lambda row: select(SlackRoomRow).where(SlackRoomRow.incident_id == row.ref_id)
    )


def _refresh_rooms(runtime: Ports, outbox_id: int, rooms_of: Callable[[OutboxRow], Select[Any]]) -> int:
    """Refresh the cards of the rooms ``rooms_of`` the row selects; how many were sent now.

    The cards are marked dirty in the transaction that completes the row, so a process killed
    after it still leaves them to the ``flusher``; a redelivered row finds its work done.
    """
    with runtime.store.unit_of_work() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return 0
        query = rooms_of(row).where(SlackRoomRow.card_ts.is_not(None))
        rooms = list(session.scalars(query.order_by(SlackRoomRow.incident_id).with_for_update()))
        for room in rooms:
            room.card_dirty = True
        ids = [room.incident_id for room in rooms]
        outbox.complete(row, clock.utcnow())
    if runtime.settings.slack_bot_token is None:
        return 0
    return sum(refresh_card(runtime, incident_id, only_if_dirty=True) for incident_id in ids)


def flusher(runtime: Ports) -> Any:
    """A scheduler job sending every dirty card whose interval has passed (a lost timer's work)."""

    def flush_slack_cards() -> int:
        if runtime.settings.slack_bot_token is None:
            return 0
        due = clock.utcnow() - timedelta(seconds=float(runtime.settings.slack_card_min_interval_seconds))
        with runtime.store.unit_of_work() as session:
            ids = list(
                session.scalars(
                    select(SlackRoomRow.incident_id).where(
                        SlackRoomRow.card_dirty.is_(True), SlackRoomRow.card_updated_at <= due
                    )
                )
            )
        return sum(refresh_card(runtime, i, only_if_dirty=True) for i in ids)

    return flush_slack_cards
