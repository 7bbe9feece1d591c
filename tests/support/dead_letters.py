"""The relay's dead-letter cap driven by hand: relay rounds on a made-up clock, deliveries a test
decides, and what the store and the timeline say of a row afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from orchestrator import clock, dead_letters, heartbeats
from orchestrator.store import marks, outbox
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.rows import event_row
from tests.timeline.story import T0, build_incident

__all__ = ["CAP", "deliver_until_dead", "owed_event", "relay", "relay_for", "stored_row", "told"]

CAP = 3


def relay(runtime: Runtime, seconds: float, sent: list[int]) -> int:
    """One round of the scheduler's relay ``seconds`` after T0, capped at ``CAP`` sends."""
    return outbox.relay_once(
        runtime.store,
        lambda _topic, *ids: sent.extend(ids),
        now=T0 + timedelta(seconds=seconds),
        redeliver_after=30,
        max_attempts=CAP,
        on_dead=dead_letters.note_dead,
    )


def relay_for(
    runtime: Runtime, seconds: float, sent: list[int], *, each: Callable[[], None] | None = None
) -> None:
    """The scheduler's relay every 5 s for ``seconds``; ``each`` runs after every send."""
    at = 2.0
    while at < seconds:
        if relay(runtime, at, sent) and each is not None:
            each()
        at += 5


def owed_event(runtime: Runtime, event_id: str) -> tuple[str, int]:
    """An incident (the story's), one of its events, and the outbox row that owes its correlation."""
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        session.add(event_row(event_id, at=T0, incident_id=incident_id))
        session.flush()
        return incident_id, outbox.enqueue(session, topic="event.received", ref_id=event_id, now=T0).id


def stored_row(runtime: Runtime, row_id: int) -> OutboxRow:
    with runtime.store.unit_of_work() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None
        session.expunge(row)
        return row


def told(runtime: Runtime, chain: str, row_id: int) -> list[tuple[str, str, dict[str, object]]]:
    """What the timeline says of outbox row ``row_id``: (kind, actor, data)."""
    with runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, chain)
        assert timeline.verify_entries(entries) is None
    return [(e.kind, e.actor, e.data) for e in entries if (e.data or {}).get("outbox_id") == row_id]


def deliver_until_dead(runtime: Runtime, row_id: int, leased: Any, task: Callable[[int], None]) -> list[str]:
    """Relay ``row_id`` round after round until it is dead-lettered (or 8 * ``CAP`` rounds), every
    other delivery going to a worker that takes the lease of its work (``leased``: a model with
    ``lease_until``) and is SIGKILLed (what it leaves is written: its mark, the lease), the others
    to ``task`` (the real one), which finds the dead worker's lease still held. The dead workers."""
    deaths: list[str] = []
    held = 0
    base = clock.utcnow()  # the task compares leases with the real clock
    for round_ in range(1, 8 * CAP):
        relayed = outbox.relay_once(
            runtime.store,
            lambda _topic, *ids: None,
            now=base + timedelta(seconds=1000 * round_),
            redeliver_after=30,
            max_attempts=CAP,
            on_dead=dead_letters.note_dead,
        )
        if not relayed:
            break
        if len(deaths) == held:
            deaths.append(f"test-host:{1000 + len(deaths)}")
            marks.begin(runtime.store, [row_id], deaths[-1], heartbeats.live_processes)
            with runtime.store.unit_of_work() as session:
                session.execute(update(leased).values(lease_until=clock.utcnow() + timedelta(seconds=90)))
        else:
            task(row_id)
            held += 1
    assert held, "no delivery found the dead worker's lease held"
    return deaths
