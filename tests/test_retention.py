"""Retention: past ``retention_days`` the scheduler's sweep deletes done outbox rows, raw event
bodies, settled ledger rows and expired replay keys, a small batch per transaction; what is
younger, still owed or still counted stays, and the timeline is never touched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator.config import load_settings
from orchestrator.errors import ConfigError
from orchestrator.events.models import EventRow
from orchestrator.inbound.replay import ReplayKeyRow
from orchestrator.incidents.models import IncidentEntityRow
from orchestrator.retention import sweep
from orchestrator.revocation.models import LedgerRow, MemberRow, RevocationRow
from orchestrator.store import migrate, outbox
from orchestrator.store.db import Store
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.worker.runtime import Runtime
from tests.support.rows import event_row
from tests.support.services import postgres_database
from tests.timeline.story import T0, build_incident

KEEP = timedelta(days=90)
NOW = T0 + KEEP + timedelta(days=2)  # the story closes its incident 27 hours after T0
OLD, RECENT = T0, NOW - timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, runtime: Runtime) -> Iterator[Store]:
    """The embedded store, and a fresh PostgreSQL database (its partial index and plans differ)."""
    if request.param == "sqlite":
        yield runtime.store
        return
    with postgres_database() as url:
        database = Store(url)
        migrate.upgrade(database)
        try:
            yield database
        finally:
            database.dispose()


def _revocation(revocation_id: str, status: str) -> RevocationRow:
    return RevocationRow(id=revocation_id, key=revocation_id, scope={}, status=status, created_at=OLD)


def _ledger(fingerprint: str, revocation_id: str, status: str, updated_at: datetime) -> LedgerRow:
    owner = {"revocation_id": revocation_id, "open_id": f"o-{fingerprint}"}
    return LedgerRow(fingerprint=fingerprint, status=status, updated_at=updated_at, **owner)


def _fill(store: Store, incident_id: str) -> dict[str, Any]:
    """Five of each kind past the retention, and the rows that must stay beside them."""
    with store.unit_of_work() as session:
        done_old = [outbox.enqueue(session, topic="run.advance", ref_id=f"o{i}", now=OLD) for i in range(5)]
        done_recent = outbox.enqueue(session, topic="run.advance", ref_id="recent", now=OLD)
        owed_old = outbox.enqueue(session, topic="run.advance", ref_id="owed", now=OLD)
        for row in done_old:
            row.done_at = OLD
        done_recent.done_at = RECENT
        session.add_all(event_row(f"old-{i}", at=OLD, incident_id=incident_id) for i in range(5))
        session.add(event_row("recent", at=RECENT, incident_id=incident_id))
        session.add(event_row("uncorrelated", at=OLD, incident_id=None))
        session.add_all([_revocation("rev-done", "finished"), _revocation("rev-running", "running")])
        session.flush()
        ledger = [_ledger(f"f{i}", "rev-done", "revoked", OLD) for i in range(5)]
        counted = _ledger("counted", "rev-running", "revoked", OLD)  # its revocation still tallies it
        pending = _ledger("pending", "rev-done", "pending", OLD)
        fresh = _ledger("fresh", "rev-done", "already_dead", RECENT)
        session.add_all([*ledger, counted, pending, fresh])
        session.flush()
        session.add_all(MemberRow(revocation_id="rev-done", ledger_id=row.id) for row in ledger)
        session.add(MemberRow(revocation_id="rev-running", ledger_id=counted.id))
        session.add_all(ReplayKeyRow(key=f"k{i}", expires_at=NOW - timedelta(minutes=1)) for i in range(5))
        session.add(ReplayKeyRow(key="live", expires_at=NOW + timedelta(minutes=5)))
        # the story's incident was closed long ago: its digests go; an open incident's stay
        digests = [IncidentEntityRow(incident_id=incident_id, kind="ips", digest=str(i)) for i in range(5)]
        session.add_all(digests)
        session.add(IncidentEntityRow(incident_id="inc-open", kind="ips", digest="d0"))
        return {"outbox": {done_recent.id, owed_old.id}, "ledger": {"counted", "pending", "fresh"}}


def test_a_sweep_deletes_what_is_past_retention_in_small_batches_and_keeps_the_rest(store: Store) -> None:
    incident_id = build_incident(store)
    kept = _fill(store, incident_id)
    with store.unit_of_work() as session:
        timeline_before = session.scalar(select(func.count()).select_from(TimelineEntryRow))

    purged = sweep(store, now=NOW, keep=KEEP, batch=2)  # three batches of each kind

    assert purged == {"outbox": 5, "event_bodies": 5, "ledger": 5, "entity_digests": 5, "replay_keys": 5}
    with store.unit_of_work() as session:
        assert set(session.scalars(select(OutboxRow.id))) == kept["outbox"]
        bodies = {e.id: e.raw for e in session.scalars(select(EventRow))}
        assert set(session.scalars(select(LedgerRow.fingerprint))) == kept["ledger"]
        assert session.scalar(select(func.count()).select_from(MemberRow)) == 1
        assert list(session.scalars(select(ReplayKeyRow.key))) == ["live"]
        assert list(session.scalars(select(IncidentEntityRow.incident_id))) == ["inc-open"]
        assert session.scalar(select(func.count()).select_from(TimelineEntryRow)) == timeline_before
    assert bodies == {f"old-{i}": None for i in range(5)} | {
        "recent": {"body": "recent"},
        "uncorrelated": {"body": "uncorrelated"},  # not correlated yet: its body is still work
    }
    assert sweep(store, now=NOW, keep=KEEP, batch=2) == dict.fromkeys(purged, 0)


def test_a_sweep_stops_when_its_time_is_up_and_the_next_goes_on(store: Store) -> None:
    _fill(store, build_incident(store))
    assert sweep(store, now=NOW, keep=KEEP, batch=2, seconds=0) == dict.fromkeys(
        ["outbox", "event_bodies", "ledger", "entity_digests", "replay_keys"], 0
    )
    assert sum(sweep(store, now=NOW, keep=KEEP, batch=2).values()) == 25


def test_retention_shorter_than_the_redelivery_window_is_refused() -> None:
    # 10 sends at 3600 s doubling to x8: 1 + 2 + 4 + 8 * 7 = 63 hours, more than two days
    with pytest.raises(ConfigError) as refused:
        load_settings(overrides={"retention_days": 2, "redeliver_after_seconds": 3600})
    assert str(refused.value) == (
        "invalid config: retention_days (ORCH_RETENTION_DAYS): 2 days is less than the outbox's "
        "redelivery window (2.625 days: redeliver_after_seconds and outbox_max_attempts)"
    )
    assert load_settings(overrides={"retention_days": 3, "redeliver_after_seconds": 3600}).retention_days == 3
