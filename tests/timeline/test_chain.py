"""The timeline hash chain: appended entries link; an edit made in the database is found."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import text

from orchestrator.store import migrate
from orchestrator.store.db import Store
from orchestrator.timeline.service import ChainBreak, append_entry, entries, verify_chain
from orchestrator.worker.runtime import Runtime
from tests.support.services import postgres_database
from tests.support.statements import recorded_statements


def test_entries_link_and_verify(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        for i in range(3):
            append_entry(session, chain="inc-x", actor="system", kind="note", message=f"n{i}", data={"i": i})
    with runtime.store.unit_of_work() as session:
        rows = entries(session, "inc-x")
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[1].prev_hash == rows[0].hash
        assert verify_chain(session, "inc-x") is None


def test_a_transaction_reads_a_chain_tail_once_even_across_flushes(runtime: Runtime) -> None:
    """A worker correlating a storm flushes between appends; the tail it read stays its own (the
    flush's inner transaction ending once made every append read the tail again)."""
    with recorded_statements(runtime.store.engine) as sent, runtime.store.unit_of_work() as session:
        for i in range(4):
            append_entry(session, chain="inc-flushed", actor="system", kind="note", message=f"n{i}")
            session.flush()
    assert len([s for s in sent if s.startswith("SELECT") and "timeline_entries" in s]) == 1
    with runtime.store.unit_of_work() as session:
        assert [r.seq for r in entries(session, "inc-flushed")] == [1, 2, 3, 4]
        assert verify_chain(session, "inc-flushed") is None


def test_the_entries_of_one_flush_go_in_with_one_insert(runtime: Runtime) -> None:
    """A correlating worker appends an entry per event: SQLite inserted them one statement each
    until the hash column became the rows' insert sentinel."""
    with recorded_statements(runtime.store.engine) as sent, runtime.store.unit_of_work() as session:
        rows = [
            append_entry(session, chain="inc-batch", actor="system", kind="note", message=f"n{i}")
            for i in range(5)
        ]
        session.flush()
        ids = [row.id for row in rows]
    assert len([s for s in sent if s.startswith("INSERT") and "timeline_entries" in s]) == 1
    with runtime.store.unit_of_work() as session:
        got = [(r.id, r.seq) for r in entries(session, "inc-batch")]
        assert got == list(zip(ids, range(1, 6), strict=True))
        assert verify_chain(session, "inc-batch") is None


def test_concurrent_transactions_appending_several_entries_keep_one_chain_on_postgresql() -> None:
    """Each transaction reads the chain's tail once, under the chain's lock, and continues from
    its own appends: eight writers of three entries each still make one gapless chain."""
    with postgres_database() as url:
        store = Store(url)
        migrate.upgrade(store)

        def writer(n: int) -> None:
            for round_ in range(3):
                with store.unit_of_work() as session:
                    for i in range(3):
                        append_entry(
                            session, chain="inc-busy", actor=f"w{n}", kind="note", message=f"{round_}.{i}"
                        )

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with store.unit_of_work() as session:
            assert [r.seq for r in entries(session, "inc-busy")] == list(range(1, 73))
            assert verify_chain(session, "inc-busy") is None
        store.dispose()


def test_edit_in_database_is_detected_naming_the_entry(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        for i in range(3):
            append_entry(session, chain="inc-y", actor="system", kind="note", message=f"n{i}")
    with runtime.store.engine.begin() as conn:
        conn.execute(text("UPDATE timeline_entries SET message = 'forged' WHERE chain = 'inc-y' AND seq = 2"))
    with runtime.store.unit_of_work() as session:
        assert verify_chain(session, "inc-y") == ChainBreak(2, "content does not match its hash (edited)")


def test_secrets_never_enter_the_timeline(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        row = append_entry(
            session,
            chain="inc-z",
            actor="system",
            kind="note",
            message="token act.SECRETSECRET1234!1.va used",
            data={"access_token": "act.SECRETSECRET1234!1.va", "count": 1},
        )
        assert "SECRETSECRET" not in row.message + repr(row.data)


def test_a_fact_recorded_after_a_later_one_takes_its_time_so_order_and_times_agree(runtime: Runtime) -> None:
    """A writer read the time, then waited for the chain behind a later fact: its entry is not
    stamped before the entry ahead of it, in this transaction or a later one."""
    first, late = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC), datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC)
    with runtime.store.unit_of_work() as session:
        append_entry(session, chain="c", actor="a", kind="switch.engaged", message="engaged", at=first)
        append_entry(session, chain="c", actor="a", kind="step.succeeded", message="same pass", at=late)
    with runtime.store.unit_of_work() as session:
        append_entry(session, chain="c", actor="a", kind="step.failed", message="waited", at=late)
        append_entry(session, chain="c", actor="a", kind="note", message="now")
    with runtime.store.unit_of_work() as session:
        times = [(e.kind, e.at) for e in entries(session, "c")]
        assert verify_chain(session, "c") is None
    assert times[:3] == [("switch.engaged", first), ("step.succeeded", first), ("step.failed", first)]
    assert times[3][1] > first
