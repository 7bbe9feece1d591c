"""The intake's group commit: concurrent requests share a transaction and a broker message, the
rows are written marked dispatched (a failed publish hands them back to the relay), and a broker
that is down holds up no commit."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import func, select
from sqlalchemy.engine.interfaces import CacheStats

from orchestrator import clock
from orchestrator.api.app import create_app, prepare
from orchestrator.config import load_settings
from orchestrator.errors import BrokerError
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.events.models import EventRow
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.intake.writer import BROKER_PAUSE, MESSAGE_EVENTS, GroupCommit
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import service as switch
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.worker import tasks
from orchestrator.worker.app import make_celery, publisher
from orchestrator.worker.runtime import Runtime
from tests.support.processes import free_port, wait_for
from tests.support.runtime import INTAKE_TOKEN
from tests.support.server import serve_app
from tests.support.statements import recorded_statements


def _event(n: int) -> CompromiseEvent:
    now = clock.utcnow()
    return CompromiseEvent(
        source="generic", kind="host.anomaly", severity="low", title=f"alert {n}",
        observed_at=now, received_at=now, dedup_key=f"key-{n}",
    )  # fmt: skip


class Broker:
    """Records what the group commit publishes; while ``down`` it fails as a fail-fast publisher
    does when the broker is unreachable."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple[int, ...]]] = []
        self.down = False
        self.refused = threading.Event()  # set once a publish failed while down

    def close(self) -> None:
        """The writer thread closes its publisher when it ends."""

    def __call__(self, topic: str, *row_ids: int) -> None:
        if self.down:
            self.refused.set()
            raise BrokerError("broker unreachable: ConnectionRefusedError")
        self.messages.append((topic, row_ids))


def _accept_all(writer: GroupCommit, count: int) -> list[list[int]]:
    async def run() -> list[list[int]]:
        return list(await asyncio.gather(*(writer.accept([_event(n)]) for n in range(count))))

    return asyncio.run(run())


def _rows(runtime: Runtime) -> dict[int, bool]:
    with runtime.store.unit_of_work() as session:
        return {row.id: row.dispatched_at is not None for row in session.scalars(select(OutboxRow))}


def test_concurrent_requests_share_commits_and_messages_and_every_row_is_marked(runtime: Runtime) -> None:
    broker = Broker()
    writer = GroupCommit(runtime.store, lambda: broker)

    with recorded_statements(runtime.store.engine) as sent:
        answers = _accept_all(writer, 250)
        time.sleep(0.5)  # a writer that marked rows after publishing would do it now

    ids = sorted(row for answer in answers for row in answer)
    assert len(ids) == 250 and all(len(answer) == 1 for answer in answers)
    wait_for(lambda: sum(len(rows) for _, rows in broker.messages) == 250, timeout=10, what="published")
    assert {topic for topic, _ in broker.messages} == {EVENT_TOPIC}
    assert len(broker.messages) < 250 and max(len(rows) for _, rows in broker.messages) <= MESSAGE_EVENTS
    assert sorted(row for _, rows in broker.messages for row in rows) == ids
    assert all(_rows(runtime).values())  # written marked: the relay leaves them to the fast path
    assert not [s for s in sent if s.startswith("UPDATE")]  # marking costs no statement


def test_a_broker_that_is_down_holds_up_no_commit_and_the_relay_has_the_rows(runtime: Runtime) -> None:
    broker = Broker()
    broker.down = True
    writer = GroupCommit(runtime.store, lambda: broker)

    first = _accept_all(writer, 3)  # the first commit's rows go in marked; its publish fails
    assert broker.refused.wait(10)  # the publish follows the answers: back only once it failed
    broker.down = False  # back, but the writer leaves publishing to the relay for a moment
    second = _accept_all(writer, 3)

    rows = _rows(runtime)
    assert len(rows) == 6 and not any(rows.values())  # unmarked or never marked: the relay sends them
    assert sorted(r for answer in first + second for r in answer) == sorted(rows)
    assert broker.messages == []
    time.sleep(BROKER_PAUSE)
    (third,) = _accept_all(writer, 1)
    assert wait_for(lambda: broker.messages, timeout=10, what="a publish") == [(EVENT_TOPIC, tuple(third))]


def test_a_fail_fast_publisher_gives_up_on_a_broker_that_is_down(tmp_path: Path) -> None:
    settings = load_settings(
        overrides={"data_dir": tmp_path, "broker_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    app = make_celery(settings)
    started = time.monotonic()
    publish = publisher(app, fail_fast=True)
    with pytest.raises(BrokerError):
        publish(EVENT_TOPIC, 1, 2)
    publish.close()
    assert time.monotonic() - started < 15  # Celery's own would retry for ever


def test_one_message_of_several_events_correlates_each(runtime: Runtime) -> None:
    broker = Broker()
    writer = GroupCommit(runtime.store, lambda: broker)
    _accept_all(writer, 5)
    wait_for(lambda: sum(len(rows) for _, rows in broker.messages) == 5, timeout=10, what="published")

    for _, rows in broker.messages:
        tasks.correlate_event(runtime, *rows)  # as the worker receives the message

    with runtime.store.unit_of_work() as session:
        owed = session.scalars(select(OutboxRow.id).where(OutboxRow.done_at.is_(None))).all()
    assert owed == []


def test_an_urgent_request_is_committed_before_the_alerts_queued_ahead_of_it(runtime: Runtime) -> None:
    broker = Broker()
    critical = _event(999).model_copy(update={"severity": Severity.CRITICAL})
    writer = GroupCommit(runtime.store, lambda: broker, urgent=lambda events: events == [critical])
    release = threading.Event()

    def hold_the_write_lock() -> None:  # the writer's first commit waits for it
        with runtime.store.engine.begin():  # the store begins SQLite transactions IMMEDIATE
            release.wait(10)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    time.sleep(0.1)

    async def run() -> list[list[int]]:
        first = asyncio.ensure_future(writer.accept([_event(0)]))
        await asyncio.sleep(0.2)  # the writer took it and waits for the lock
        later = [asyncio.ensure_future(writer.accept([_event(n)])) for n in range(1, 200)]
        later.append(asyncio.ensure_future(writer.accept([critical])))
        await asyncio.sleep(0.1)  # every request queued, the critical one last
        release.set()
        return list(await asyncio.gather(first, *later))

    ids = [row_id for answer in asyncio.run(run()) for row_id in answer]
    holder.join()
    # Committed right after the commit under way, before the 199 alerts queued ahead of it.
    assert ids[-1] == ids[0] + 1 and ids[-1] < min(ids[1:-1])


@pytest.mark.parametrize("either_store", ["postgresql"], indirect=True)
def test_on_postgresql_an_urgent_request_waits_for_no_commit_of_the_storms(either_store: Runtime) -> None:
    """PostgreSQL has no one write lock: the urgent requests have a writer of their own, and a
    critical event is durable while the storm's writer is still busy (here, publishing)."""
    runtime = either_store
    critical = _event(999).model_copy(update={"severity": Severity.CRITICAL})
    publishing, release = threading.Event(), threading.Event()

    class SlowBroker(Broker):
        def __call__(self, topic: str, *row_ids: int) -> None:
            if threading.current_thread().name == "intake-writer":  # the storm's writer
                publishing.set()
                release.wait(10)
            super().__call__(topic, *row_ids)

    broker = SlowBroker()
    writer = GroupCommit(runtime.store, lambda: broker, urgent=lambda events: events == [critical])

    async def run() -> tuple[list[int], bool, list[int]]:
        storm = asyncio.ensure_future(writer.accept([_event(0)]))
        while not publishing.is_set():  # committed, and its writer is held up publishing
            await asyncio.sleep(0.01)
        later = asyncio.ensure_future(writer.accept([_event(1)]))  # queued behind it
        first = await asyncio.wait_for(writer.accept([critical]), timeout=10)
        still_waiting = not later.done()
        release.set()
        return first, still_waiting, [*await storm, *await later]

    first, still_waiting, alerts = asyncio.run(run())
    assert still_waiting  # the critical event was committed while the storm's writer was busy
    with runtime.store.unit_of_work() as session:  # nothing accepted is lost
        owed = set(session.scalars(select(OutboxRow.id)))
    assert owed == {*first, *alerts} and len(owed) == 3


def test_a_served_app_is_ready_before_the_first_event_and_stays_so(runtime: Runtime) -> None:
    def writers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "intake-writer"}

    earlier = writers()  # other tests' writers, ending once idle
    app = create_app(runtime)
    prepare(app)  # as `serve` does
    (mine,) = writers() - earlier  # its broker connection made, before any event
    with runtime.store.unit_of_work() as session:  # a critical event's commit rehearsed, rolled back
        tables = (EventRow, OutboxRow, TimelineEntryRow)
        assert [session.scalar(select(func.count()).select_from(t)) for t in tables] == [0, 0, 0]
        state = switch.status(session)
        assert (state.engaged, state.by, state.changed_at, state.version) == (False, None, None, 0)
    with serve_app(app) as url:
        event = {"title": "Odd login", "kind": "auth.anomaly", "severity": "low"}
        auth = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
        answer = httpx.post(f"{url}/v1/events", json=event, headers=auth)
    assert answer.status_code == 202
    assert mine.is_alive() and writers() - earlier == {mine}  # the same writer took the event


def test_the_first_critical_event_after_start_up_imports_and_compiles_nothing(
    either_store: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25, warm from the start: what the first event would pay (a source's parser import,
    the first compile of a statement on the path to the switch) is paid by ``prepare``."""
    runtime = either_store
    for name in [n for n in sys.modules if n.startswith("orchestrator.intake.sources.")]:
        monkeypatch.delitem(sys.modules, name)  # as in a fresh `serve`, whatever ran before
    app = create_app(runtime)
    prepare(app)  # as `serve` does
    imported_before = set(sys.modules)
    compiled: list[str] = []

    def record(
        _conn: object, _cursor: object, statement: str, _params: object, context: object, *_: object
    ) -> None:
        if getattr(context, "cache_hit", None) == CacheStats.CACHE_MISS:
            compiled.append(statement.split("\n", 1)[0])

    sql_event.listen(runtime.store.engine, "before_cursor_execute", record)
    try:
        with serve_app(app) as url:
            event = {"title": "Root shell on build host", "kind": "host.compromise", "severity": "critical"}
            answer = httpx.post(
                f"{url}/v1/events", json=event, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
            )
    finally:
        sql_event.remove(runtime.store.engine, "before_cursor_execute", record)
    assert answer.status_code == 202
    with runtime.store.unit_of_work() as session:
        assert switch.status(session).by == "intake"  # the event took the critical path to the switch
    assert compiled == []
    assert sorted(n for n in set(sys.modules) - imported_before if n.startswith("orchestrator")) == []
