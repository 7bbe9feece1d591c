"""The scheduler's checkpoint job: a head is signed on the first tick after a milestone, and otherwise within
a minute of new entries; an incident whose head it signs is owed a fresher card in the same commit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from orchestrator.clock import FixedClock
from orchestrator.config import Settings
from orchestrator.evidence.sweep import CheckpointSweep
from orchestrator.incidents import news
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import checkpoints, kinds
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.timeline.story import ENTRIES, build_incident
from tests.timeline.test_verify import _store

INCIDENT = "inc-story000001"


def _append(runtime: Runtime, kind: str) -> None:
    with runtime.store.unit_of_work() as session:
        timeline.append_entry(session, chain=INCIDENT, actor="cli:tester", kind=kind, message=kind)


def _signed(runtime: Runtime) -> list[tuple[int, str]]:
    with runtime.store.unit_of_work() as session:
        return [(c.seq, c.reason) for c in checkpoints.for_chain(session, INCIDENT)]


def _cards_owed(runtime: Runtime) -> list[str]:
    with runtime.store.unit_of_work() as session:
        return list(
            session.scalars(
                select(OutboxRow.ref_id).where(OutboxRow.topic == news.CHANGED).order_by(OutboxRow.id)
            )
        )


def test_heads_are_signed_at_milestones_at_once_and_within_a_minute_otherwise(runtime: Runtime) -> None:
    build_incident(runtime.store)
    fixed = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    owed_before = len(_cards_owed(runtime))
    sweep = CheckpointSweep(runtime.store, runtime.evidence_key, now=fixed.now, cards=True)

    assert sweep() == 1  # first pass: every chain whose head is unsigned (a restart leaves none)
    assert _signed(runtime) == [(ENTRIES, "unsigned at start")]
    _append(runtime, kinds.NOTE)
    fixed.advance(30)
    assert sweep() == 0
    fixed.advance(31)
    assert sweep() == 1
    _append(runtime, kinds.NOTE)
    assert sweep() == 0
    _append(runtime, kinds.REPORT_DELIVERED)
    assert sweep() == 1
    assert sweep() == 0
    assert _signed(runtime) == [
        (ENTRIES, "unsigned at start"),
        (ENTRIES + 1, "every minute"),
        (ENTRIES + 3, "milestone"),
    ]
    assert _cards_owed(runtime)[owed_before:] == [INCIDENT, INCIDENT, INCIDENT]
    key = runtime.evidence_key().public
    with runtime.store.unit_of_work() as session:
        assert all(key.verifies(c.signature, c.message()) for c in checkpoints.for_chain(session, INCIDENT))


def test_without_slack_a_signed_head_owes_no_card(runtime: Runtime) -> None:
    """No Slack, no card: signing every chain once a minute must not leave outbox rows behind
    (the soak found 8 owed after its drain)."""
    build_incident(runtime.store)
    owed_before = len(_cards_owed(runtime))
    assert CheckpointSweep(runtime.store, runtime.evidence_key)() == 1
    assert len(_cards_owed(runtime)) == owed_before


def _append_as(runtime: Runtime, chain: str, entry_id: int) -> None:
    """An entry whose id is ``entry_id``: on PostgreSQL ids are taken at insert, so a transaction
    that inserted before another and commits after it leaves a lower id behind the higher one."""
    with runtime.store.unit_of_work() as session:
        row = timeline.append_entry(session, chain=chain, actor="cli:tester", kind=kinds.NOTE, message="late")
        row.id = entry_id


def test_an_entry_committed_after_a_higher_id_is_signed_within_a_minute(either_store: Runtime) -> None:
    runtime = either_store
    build_incident(runtime.store)
    fixed = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    sweep = CheckpointSweep(runtime.store, runtime.evidence_key, now=fixed.now)
    assert sweep() == 1
    with runtime.store.unit_of_work() as session:
        cursor = max(entry.id for entry in timeline.entries(session, INCIDENT))
    _append_as(runtime, INCIDENT, cursor + 10)
    assert sweep() == 0  # the cursor is past cursor + 10 now
    _append_as(runtime, "inc-late00000001", cursor + 5)  # committed after it, with a lower id
    fixed.advance(30)
    assert sweep() == 0
    fixed.advance(31)
    assert sweep() == 2  # the story's note, and the late chain the cursor had passed
    with runtime.store.unit_of_work() as session:
        assert [(c.seq, c.reason) for c in checkpoints.for_chain(session, "inc-late00000001")] == [
            (1, "every minute")
        ]


@pytest.mark.services
def test_on_postgres_an_entry_whose_transaction_commits_late_is_signed_within_a_minute(
    settings: Settings,
) -> None:
    """The real thing: a transaction takes its entry's id, another takes a higher one and commits,
    the sweep moves past both, then the first commits."""
    with _store("postgres", settings) as runtime:
        build_incident(runtime.store)
        fixed = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
        sweep = CheckpointSweep(runtime.store, runtime.evidence_key, now=fixed.now)
        assert sweep() == 1
        with runtime.store.unit_of_work() as late:
            timeline.append_entry(
                late, chain="inc-late00000001", actor="cli:tester", kind=kinds.NOTE, message="late"
            )
            late.flush()  # its id is taken now
            _append(runtime, kinds.NOTE)  # a higher id, committed first
            assert sweep() == 0
        fixed.advance(61)
        assert sweep() == 2
        with runtime.store.unit_of_work() as session:
            signed = [(c.seq, c.reason) for c in checkpoints.for_chain(session, "inc-late00000001")]
    assert signed == [(1, "every minute")]


def test_a_chain_cut_off_under_its_checkpoint_is_not_signed_again(runtime: Runtime) -> None:
    """Entries after the cut would otherwise get a checkpoint of their own: a shorter chain,
    signed, that verifies once the older checkpoint is deleted (SQLite does not refuse)."""
    build_incident(runtime.store)
    fixed = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    sweep = CheckpointSweep(runtime.store, runtime.evidence_key, now=fixed.now)
    assert sweep() == 1
    with runtime.store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM timeline_entries WHERE chain = '{INCIDENT}' AND seq > 29"))
    _append(runtime, kinds.REPORT_DELIVERED)  # a milestone on the cut chain: entry 30
    assert sweep() == 0
    for _ in range(ENTRIES - 29):
        _append(runtime, kinds.NOTE)  # past the checkpoint's entry, with other hashes
    fixed.advance(61)
    assert sweep() == 0
    assert _signed(runtime) == [(ENTRIES, "unsigned at start")]
