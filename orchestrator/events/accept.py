"""Accept events: the event row and its outbox row in one commit, then hand them on.

In `events/` (the domain), not the intake: the HTTP intake, detectors, `/ir declare` and
`orchestrator events` all accept events the same way, and none should reach up into the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from orchestrator.events.models import EventRow
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.store import outbox
from orchestrator.store.db import Store

__all__ = ["EVENT_TOPIC", "BeforeCommit", "accept_events", "dispatch_now"]

EVENT_TOPIC = "event.received"
_INSERT_EVENTS = insert(cast(Table, EventRow.__table__))


class BeforeCommit(Protocol):
    """More work in the transaction that accepts ``events`` (``intake.critical.CriticalFirst``)."""

    def __call__(self, session: Session, events: Sequence[CompromiseEvent], now: datetime) -> None: ...


def accept_events(
    store: Store,
    events: Sequence[CompromiseEvent],
    *,
    now: datetime,
    publishing: bool = False,
    unsent: Sequence[int] = (),
    before_commit: BeforeCommit | None = None,
) -> list[int]:
    """Write events and their outbox rows in one transaction; return the outbox ids.

    Once this returns the events cannot be lost: the relay publishes them even if
    the broker is down now or the process dies before publishing them. With ``publishing`` the
    rows are recorded as sent (the caller publishes them right after the commit); ``unsent`` are
    earlier such rows its publish failed, handed back to the relay in this same commit;
    ``before_commit`` does more in it (the intake's writer engages the switch, critical first).
    """
    with store.unit_of_work() as session:
        outbox.mark_unsent(session, unsent)
        if events:  # Core, not ORM objects: per-object bookkeeping cost more than the INSERT
            session.execute(_INSERT_EVENTS, [EventRow.values_of(event) for event in events])
        refs = [e.id for e in events]
        ids = outbox.enqueue_many(session, topic=EVENT_TOPIC, ref_ids=refs, now=now, sent=publishing)
        if before_commit is not None and events:
            before_commit(session, events, now)
        return ids


def dispatch_now(store: Store, publish: outbox.Publisher, outbox_ids: Sequence[int], *, now: datetime) -> int:
    """Publish freshly accepted rows at once, in one message (the fast path); the relay covers
    any failure."""
    if not outbox_ids:
        return 0
    try:
        publish(EVENT_TOPIC, *outbox_ids)
    except Exception:
        return 0
    with store.unit_of_work() as session:
        outbox.mark_dispatched(session, outbox_ids, now)
    return len(outbox_ids)
