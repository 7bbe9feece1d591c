"""A worker takes the owed rows after its message by a range of ids: that range must be read
as a range, not found among the whole backlog, on both stores. Both planners chose the pending
index's ``done_at IS NULL`` over the key's range (SQLite keeps no statistics; PostgreSQL's
predated the backlog), and every commit read and sorted every owed row: a worker behind under a
sustained 1,000 events/s fell further behind as its backlog grew."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text

from orchestrator.config import load_settings
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.incidents import flows
from orchestrator.store.outbox import OutboxRow
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import make_runtime
from tests.support.services import postgres_database

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BACKLOG = 20_000
OWED_AFTER = 40


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path}))
        yield runtime
        runtime.close()
        return
    with postgres_database() as url:
        runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path, "database_url": url}))
        yield runtime
        runtime.close()


def _event(key: str) -> CompromiseEvent:
    return CompromiseEvent(source="generic", kind="host.compromise", severity=Severity.LOW,
                           title=f"alert {key}", observed_at=T0, received_at=T0, dedup_key=key)  # fmt: skip


def _outbox_rows(runtime: Runtime, count: int, *, done: bool) -> None:
    """``count`` rows in one statement: the history and backlog a busy store holds."""
    with runtime.store.unit_of_work() as session:
        session.execute(
            insert(OutboxRow),
            [
                {"topic": intake.EVENT_TOPIC, "ref_id": f"filler-{n}", "payload": {}, "created_at": T0,
                 "attempts": 1, "dispatched_at": T0, "done_at": T0 if done else None}
                for n in range(count)
            ],
        )  # fmt: skip


def _plan(runtime: Runtime, statement: str, parameters: Any) -> str:
    with runtime.store.engine.connect() as connection:
        if runtime.store.is_sqlite:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        (document,) = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
        return json.dumps(document)


def _reads_outbox_by_id(plan: str, sqlite: bool) -> bool:
    if sqlite:
        lines = [line for line in plan.splitlines() if " outbox " in f"{line} "]
        bounded = ("rowid=?", "rowid>?", "id>?")
        return all(any(b in line for b in bounded) for line in lines) and "TEMP B-TREE" not in plan
    nodes = [n for n in _nodes(json.loads(plan)) if n.get("Relation Name") == "outbox"]
    return all("outbox.id" in n.get("Index Cond", "") or "(id " in n.get("Index Cond", "") for n in nodes)


def _nodes(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        yield document
        document = list(document.values())
    if isinstance(document, list):
        for item in document:
            yield from _nodes(item)


def test_the_owed_rows_after_a_message_are_read_as_a_range_of_ids(
    store_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = store_runtime
    monkeypatch.setattr(flows, "SQLITE_WRITE_BUDGET", 60.0)
    _outbox_rows(runtime, BACKLOG, done=True)
    if not runtime.store.is_sqlite:
        with runtime.store.unit_of_work() as session:
            session.execute(text("ANALYZE outbox"))  # statistics from before the storm
    _outbox_rows(runtime, BACKLOG, done=False)
    (mine,) = intake.accept_events(runtime.store, [_event("first")], now=T0)
    intake.accept_events(runtime.store, [_event(f"owed-{n}") for n in range(OWED_AFTER)], now=T0)
    sent: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: Any, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM outbox" in statement:
            sent.append((statement, parameters))

    event.listen(runtime.store.engine, "before_cursor_execute", record)
    try:
        flows.process_received_events(
            runtime.transaction, outbox_ids=[mine], window_seconds=3600, playbooks={}
        )
    finally:
        event.remove(runtime.store.engine, "before_cursor_execute", record)

    assert len(sent) == 2  # the message's own rows, then the owed rows after them
    plans = [_plan(runtime, statement, parameters) for statement, parameters in sent]
    assert all(_reads_outbox_by_id(plan, runtime.store.is_sqlite) for plan in plans), plans
    with runtime.store.unit_of_work() as session:
        done = select(func.count()).select_from(OutboxRow).where(OutboxRow.ref_id.not_like("filler-%"))
        owed = done.where(OutboxRow.done_at.is_(None))
        taken = OWED_AFTER + 1 if not runtime.store.is_sqlite else flows.SQLITE_CLAIM
        # its own row and those after it
        assert (session.scalar(done) or 0) - (session.scalar(owed) or 0) == taken
