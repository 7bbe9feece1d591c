"""The intake's group commit: concurrent requests share a transaction and a broker message, the
rows are marked dispatched without a transaction per batch, and a broker that hangs holds up
no commit."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import select

from orchestrator import clock
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.intake.service import EVENT_TOPIC
from orchestrator.intake.writer import MESSAGE_EVENTS, GroupCommit
from orchestrator.store.outbox import OutboxRow
from orchestrator.worker import tasks
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for


def _event(n: int) -> CompromiseEvent:
    now = clock.utcnow()
    return CompromiseEvent(
        source="generic", kind="host.anomaly", severity="low", title=f"alert {n}",
        observed_at=now, received_at=now, dedup_key=f"key-{n}",
    )  # type: ignore[arg-type]  # fmt: skip


class Broker:
    """Records what the group commit publishes; ``hang`` makes a send block as kombu does while
    it reconnects to a broker that is down."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple[int, ...]]] = []
        self.hang = threading.Event()
        self.hang.set()

    def __call__(self, topic: str, *row_ids: int) -> None:
        self.hang.wait()
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
    writer = GroupCommit(runtime.store, broker)

    answers = _accept_all(writer, 250)

    ids = sorted(row for answer in answers for row in answer)
    assert len(ids) == 250 and all(len(answer) == 1 for answer in answers)
    wait_for(lambda: sum(len(rows) for _, rows in broker.messages) == 250, timeout=10, what="published")
    assert {topic for topic, _ in broker.messages} == {EVENT_TOPIC}
    assert len(broker.messages) < 250 and max(len(rows) for _, rows in broker.messages) <= MESSAGE_EVENTS
    assert sorted(row for _, rows in broker.messages for row in rows) == ids
    # marked in a later batch's commit, or one of their own once no batch follows
    wait_for(lambda: all(_rows(runtime).values()), timeout=10, what="every row marked dispatched")


def test_a_hanging_broker_holds_up_no_commit(runtime: Runtime) -> None:
    broker = Broker()
    broker.hang.clear()
    writer = GroupCommit(runtime.store, broker)

    first = _accept_all(writer, 3)  # durable and answered while the first send hangs
    second = _accept_all(writer, 3)

    rows = _rows(runtime)
    assert len(rows) == 6 and not any(rows.values())  # nothing sent, so the relay will send them
    assert sorted(r for answer in first + second for r in answer) == sorted(rows)
    broker.hang.set()
    wait_for(lambda: all(_rows(runtime).values()), timeout=10, what="sent and marked once it is back")


def test_one_message_of_several_events_correlates_each(runtime: Runtime) -> None:
    broker = Broker()
    writer = GroupCommit(runtime.store, broker)
    _accept_all(writer, 5)
    wait_for(lambda: sum(len(rows) for _, rows in broker.messages) == 5, timeout=10, what="published")

    for _, rows in broker.messages:
        tasks.correlate_event(*rows)  # as the worker receives the message

    with runtime.store.unit_of_work() as session:
        owed = session.scalars(select(OutboxRow.id).where(OutboxRow.done_at.is_(None))).all()
    assert owed == []
