"""Dead-lettered outbox rows: told on the timeline of the work they stood for, listed, retried by hand.

The relay (store/outbox.py) stops sending a row after ``outbox_max_attempts`` sends; this module
knows what each topic's ``ref_id`` names, so the fact lands on the incident's (or the run's)
timeline, and gives the operator's commands (``orchestrator outbox list --dead``, ``outbox retry``)
their store functions.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import NotFound
from orchestrator.events.models import EventRow
from orchestrator.incidents import news
from orchestrator.incidents.apps import EXTENDED
from orchestrator.incidents.lifecycle import RESOLVED_TOPIC
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.revocation.models import BatchRow, RevocationRow
from orchestrator.store.outbox import DeadRow, OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN

__all__ = ["chain_of", "list_owed", "note_dead", "retry"]


def _run_chain(session: Session, run_id: str | None) -> str | None:
    run = session.get(RunRow, run_id) if run_id else None
    return runs.run_chain(run) if run is not None else None


def chain_of(session: Session, topic: str, ref_id: str) -> str:
    """The timeline the row's work belongs to: its incident's, its run's, else the system's."""
    chain: str | None = None
    if topic == "event.received":
        chain = session.scalar(select(EventRow.incident_id).where(EventRow.id == ref_id))
    elif topic == "run.advance":
        chain = _run_chain(session, ref_id)
    elif topic.startswith("step.execute") and ref_id.isdigit():
        step = session.get(StepRunRow, int(ref_id))
        chain = _run_chain(session, step.run_id if step else None)
    elif topic in (RESOLVED_TOPIC, EXTENDED):
        chain = ref_id  # the incident
    elif topic == "revocation.batch" and ref_id.isdigit():
        batch = session.get(BatchRow, int(ref_id))
        revocation = session.get(RevocationRow, batch.revocation_id) if batch else None
        if revocation is not None:
            chain = revocation.incident_id or _run_chain(session, revocation.run_id)
    elif topic == news.NEWS:
        chain = ref_id  # the incident whose room was to be told
    return chain or SYSTEM_CHAIN


def note_dead(session: Session, rows: list[DeadRow]) -> None:
    """``outbox.OnDead``: one ``outbox.dead`` entry per row on the timeline of its work."""
    for row in rows:
        timeline.append_entry(
            session,
            chain=chain_of(session, row.topic, row.ref_id),
            actor="system",
            kind=kinds.OUTBOX_DEAD,
            message=(
                f"{row.topic} {row.ref_id} stopped after {row.attempts} sends: {row.last_error}; "
                f"retry it with 'orchestrator outbox retry {row.id}'"
            ),
            data={
                "outbox_id": row.id,
                "topic": row.topic,
                "ref_id": row.ref_id,
                "attempts": row.attempts,
                "last_error": row.last_error,
            },
        )


def list_owed(session: Session, *, dead: bool, limit: int = 100) -> list[OutboxRow]:
    """Rows not done, oldest first: the dead-lettered ones with ``dead``, else those still relayed."""
    state = OutboxRow.dead_at.is_not(None) if dead else OutboxRow.dead_at.is_(None)
    rows = session.scalars(
        select(OutboxRow).where(OutboxRow.done_at.is_(None), state).order_by(OutboxRow.id).limit(limit)
    )
    return list(rows)


def retry(session: Session, row_id: int, *, actor: str) -> OutboxRow:
    """Owe a dead row again from scratch (the relay sends it on its next round, with a full set of
    attempts); the retry is told on the same timeline. NotFound unless the row is dead."""
    row = session.get(OutboxRow, row_id, with_for_update=True)
    if row is None or row.dead_at is None or row.done_at is not None:
        raise NotFound(f"outbox row {row_id} is not dead-lettered (see 'orchestrator outbox list --dead')")
    sends = row.attempts
    row.dead_at, row.dispatched_at, row.attempts = None, None, 0
    timeline.append_entry(
        session,
        chain=chain_of(session, row.topic, row.ref_id),
        actor=actor,
        kind=kinds.OUTBOX_RETRIED,
        message=f"{row.topic} {row.ref_id} sent again by hand after {sends} sends",
        data={"outbox_id": row.id, "topic": row.topic, "ref_id": row.ref_id},
    )
    return row
