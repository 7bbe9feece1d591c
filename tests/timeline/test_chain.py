"""The timeline hash chain: appended entries link; an edit made in the database is found."""

from __future__ import annotations

from sqlalchemy import text

from orchestrator.timeline.service import ChainBreak, append_entry, entries, verify_chain
from orchestrator.worker.runtime import Runtime


def test_entries_link_and_verify(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        for i in range(3):
            append_entry(session, chain="inc-x", actor="system", kind="note", message=f"n{i}", data={"i": i})
    with runtime.store.unit_of_work() as session:
        rows = entries(session, "inc-x")
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[1].prev_hash == rows[0].hash
        assert verify_chain(session, "inc-x") is None


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
