"""Progress notes of a running revocation (``revocation/progress.py``): a batch taking stock
claims the note due under the revocation's lock and tallies after its commit, outside the lock;
a slow tally (a million-token ledger) is made rarely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.clock import FixedClock
from orchestrator.revocation import flows, progress
from orchestrator.revocation.models import LedgerRow, MemberRow, RevocationRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime

REVOCATION = "rev-progress"


def _running(runtime: Runtime, *, revoked: int, pending: int) -> None:
    """A planned revocation with ``revoked`` tokens settled and ``pending`` still to send."""
    with runtime.store.unit_of_work() as session:
        session.add(
            RevocationRow(
                id=REVOCATION,
                key="progress",
                scope={"kind": "all"},
                status="running",
                planned=revoked + pending,
                plan_done=True,
                created_at=clock.utcnow(),
            )
        )
        session.flush()
        rows = [
            LedgerRow(
                revocation_id=REVOCATION,
                fingerprint=f"fp-{n}",
                open_id=f"user-{n}",
                status="revoked" if n < revoked else "pending",
            )
            for n in range(revoked + pending)
        ]
        session.add_all(rows)
        session.flush()
        session.add_all(MemberRow(revocation_id=REVOCATION, ledger_id=row.id) for row in rows)


def _take_stock(runtime: Runtime) -> datetime | None:
    """Take stock as a batch does; when the revocation's progress was last tallied."""
    with runtime.transaction() as session:
        due = flows.take_stock(session, settings=runtime.settings)
    progress.note_progress(runtime, due)
    with runtime.store.unit_of_work() as session:
        return session.scalar(select(RevocationRow.noted_at).where(RevocationRow.id == REVOCATION))


def test_a_slow_progress_tally_is_made_a_tenth_of_the_time_at_most(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    monkeypatch.setattr(clock, "_clock", fixed)
    _running(runtime, revoked=3, pending=7)

    assert _take_stock(runtime) == fixed.now()
    fixed.advance(1.5)
    assert _take_stock(runtime) == fixed.now()  # a tally of ten rows: again after a second

    progress._tally_seconds[REVOCATION] = 5.0  # as a million-token ledger's tally takes
    noted = fixed.now()
    fixed.advance(30)
    assert _take_stock(runtime) == noted  # within ten tallies' time: not tallied again
    fixed.advance(21)
    assert _take_stock(runtime) == fixed.now()
    assert progress._tally_seconds[REVOCATION] < 5.0  # measured again: the small ledger's own


def test_taking_stock_claims_the_note_and_the_tally_after_the_commit_writes_it(
    either_store: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = either_store
    monkeypatch.setattr(clock, "_clock", FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)))
    _running(runtime, revoked=3, pending=7)
    with runtime.transaction() as session:
        due = flows.take_stock(session, settings=runtime.settings)
    assert due == [REVOCATION]
    with runtime.transaction() as session:  # another worker taking stock meanwhile: claimed already
        assert flows.take_stock(session, settings=runtime.settings) == []

    progress.note_progress(runtime, due)
    with runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, REVOCATION)
    notes = [e.message for e in entries if e.kind == kinds.REVOCATION_PROGRESS]
    assert notes == ["Revocation 30% (3 of 10)"]
