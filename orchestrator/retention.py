"""Retention: what the store holds only for a while is deleted by the scheduler, a small batch at a time.

Kept ``retention_days`` (90 by default: long enough to answer an auditor; ``load_settings``
refuses less than the outbox's redelivery window), then deleted: done outbox rows, the raw
bodies of correlated events (the event row stays, its ``raw`` emptied: the timeline's
``event.received`` entries already hold what an investigation reads), settled ledger rows
with their revocation memberships, once no unfinished revocation counts them, and the entity
digests of incidents closed that long ago (their counts stay on the incident). Replay keys go
as soon as their own replay window ends. The timeline and its checkpoints are never deleted.

Each batch is one short transaction of at most ``retention_batch_size`` rows, so the intake
never waits long behind it; a sweep stops after ``SWEEP_SECONDS`` and the next one goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, null, select, tuple_, update
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.events.models import EventRow
from orchestrator.inbound import replay
from orchestrator.incidents.models import IncidentEntityRow, IncidentRow
from orchestrator.revocation.models import FINAL_OUTCOMES, LedgerRow, MemberRow, RevocationRow
from orchestrator.store import outbox
from orchestrator.store.db import Store

__all__ = [
    "EVERY_SECONDS",
    "SWEEP_SECONDS",
    "forget_closed_entity_digests",
    "forget_event_bodies",
    "forget_settled_ledger",
    "sweep",
]

EVERY_SECONDS = 10.0
"""How often the scheduler sweeps."""

SWEEP_SECONDS = 1.0
"""Time one sweep may spend; a backlog (the first sweep after an upgrade) is worked off over many."""


def forget_event_bodies(session: Session, *, received_before: datetime, batch: int) -> int:
    """Empty the raw body of up to ``batch`` correlated events received before the cut-off."""
    ids = session.scalars(
        select(EventRow.id)
        .where(
            EventRow.raw.is_not(None),
            EventRow.received_at < received_before,
            EventRow.incident_id.is_not(None),
        )
        .order_by(EventRow.received_at)
        .limit(batch)
    ).all()
    if ids:
        session.execute(update(EventRow).where(EventRow.id.in_(ids)).values(raw=null()))
    return len(ids)


def forget_settled_ledger(session: Session, *, settled_before: datetime, batch: int) -> int:
    """Delete up to ``batch`` ledger rows settled before the cut-off, with their memberships;
    a row an unfinished revocation still counts stays (its tally would change under it)."""
    counted = exists().where(
        MemberRow.ledger_id == LedgerRow.id,
        MemberRow.revocation_id == RevocationRow.id,
        RevocationRow.status != "finished",
    )
    ids = session.scalars(
        select(LedgerRow.id)
        .where(LedgerRow.status.in_(FINAL_OUTCOMES), LedgerRow.updated_at < settled_before, ~counted)
        .order_by(LedgerRow.id)
        .limit(batch)
    ).all()
    if ids:
        session.execute(delete(MemberRow).where(MemberRow.ledger_id.in_(ids)))
        session.execute(delete(LedgerRow).where(LedgerRow.id.in_(ids)))
    return len(ids)


def forget_closed_entity_digests(session: Session, *, closed_before: datetime, batch: int) -> int:
    """Delete up to ``batch`` entity digests of incidents closed before the cut-off: a closed
    incident takes no more events, so its counts are final."""
    closed = select(IncidentRow.id).where(IncidentRow.closed_at < closed_before)
    columns = (IncidentEntityRow.incident_id, IncidentEntityRow.kind, IncidentEntityRow.digest)
    doomed = select(*columns).where(IncidentEntityRow.incident_id.in_(closed)).limit(batch)
    result: Any = session.execute(delete(IncidentEntityRow).where(tuple_(*columns).in_(doomed)))
    return int(result.rowcount or 0)


def sweep(
    store: Store, *, now: datetime, keep: timedelta, batch: int, seconds: float = SWEEP_SECONDS
) -> dict[str, int]:
    """Delete what is older than ``keep``, a batch of each kind in turn, until none is left or
    ``seconds`` have passed; how many rows of each kind went."""
    cutoff = now - keep

    def in_one_transaction(work: Callable[[Session], int]) -> Callable[[], int]:
        def run() -> int:
            with store.unit_of_work() as session:
                return work(session)

        return run

    kinds: dict[str, Callable[[], int]] = {
        "outbox": in_one_transaction(lambda s: outbox.purge_done(s, done_before=cutoff, batch=batch)),
        "event_bodies": in_one_transaction(
            lambda s: forget_event_bodies(s, received_before=cutoff, batch=batch)
        ),
        "ledger": in_one_transaction(lambda s: forget_settled_ledger(s, settled_before=cutoff, batch=batch)),
        "entity_digests": in_one_transaction(
            lambda s: forget_closed_entity_digests(s, closed_before=cutoff, batch=batch)
        ),
        "replay_keys": lambda: replay.purge_expired(store, now=now, batch=batch),
    }
    purged = dict.fromkeys(kinds, 0)
    deadline = clock.monotonic() + seconds
    left = list(kinds)
    while left and clock.monotonic() < deadline:
        for name in list(left):
            count = kinds[name]()
            purged[name] += count
            if count < batch:
                left.remove(name)
    return purged
