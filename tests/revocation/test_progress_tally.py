"""Progress notes of a running revocation (``revocation/flows.take_stock``): their tally holds the
revocation's lock, which every batch taking stock waits for, so a slow one is made rarely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.clock import FixedClock
from orchestrator.revocation import flows
from orchestrator.revocation.models import LedgerRow, MemberRow, RevocationRow
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
        flows.take_stock(session, settings=runtime.settings)
    with runtime.store.unit_of_work() as session:
        return session.scalar(select(RevocationRow.noted_at).where(RevocationRow.id == REVOCATION))


def test_a_slow_progress_tally_holds_the_revocations_lock_a_tenth_of_the_time_at_most(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    monkeypatch.setattr(clock, "_clock", fixed)
    _running(runtime, revoked=3, pending=7)

    assert _take_stock(runtime) == fixed.now()
    fixed.advance(1.5)
    assert _take_stock(runtime) == fixed.now()  # a tally of ten rows: again after a second

    flows._tally_seconds[REVOCATION] = 5.0  # as a million-token ledger's tally takes
    noted = fixed.now()
    fixed.advance(30)
    assert _take_stock(runtime) == noted  # within ten tallies' time: not tallied again
    fixed.advance(21)
    assert _take_stock(runtime) == fixed.now()
    assert flows._tally_seconds[REVOCATION] < 5.0  # measured again: the small ledger's own
