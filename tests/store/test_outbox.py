"""The outbox relay: nothing accepted is lost while the broker is down or a worker dies."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from orchestrator.store import migrate, outbox
from orchestrator.store.db import Store
from orchestrator.worker.runtime import Runtime
from tests.support.services import postgres_database

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _owe(runtime: Runtime, n: int, *, at: datetime = T0 - timedelta(seconds=5)) -> list[int]:
    """Rows owed since ``at`` (by default older than the fast path's grace)."""
    with runtime.store.unit_of_work() as session:
        return [outbox.enqueue(session, topic="event.received", ref_id=f"e{i}", now=at).id for i in range(n)]


def test_relay_publishes_each_row_once_until_stale(runtime: Runtime) -> None:
    ids = _owe(runtime, 3)
    sent: list[int] = []
    publish = lambda topic, *rows: sent.extend(rows)  # noqa: E731
    assert outbox.relay_once(runtime.store, publish, now=T0, redeliver_after=30) == 3
    assert outbox.relay_once(runtime.store, publish, now=T0 + timedelta(seconds=10), redeliver_after=30) == 0
    assert outbox.relay_once(runtime.store, publish, now=T0 + timedelta(seconds=31), redeliver_after=30) == 3
    assert sent == ids + ids


def test_a_fresh_row_is_left_to_the_fast_path_then_relayed_in_one_call_per_topic(runtime: Runtime) -> None:
    ids = _owe(runtime, 3, at=T0)
    calls: list[tuple[str, tuple[int, ...]]] = []
    publish = lambda topic, *rows: calls.append((topic, rows))  # noqa: E731
    assert outbox.relay_once(runtime.store, publish, now=T0, redeliver_after=30) == 0
    later = T0 + timedelta(seconds=outbox.FAST_PATH_GRACE + 0.1)
    assert outbox.relay_once(runtime.store, publish, now=later, redeliver_after=30) == 3
    assert calls == [("event.received", tuple(ids))]


def test_each_resend_waits_twice_as_long_up_to_eight_times(runtime: Runtime) -> None:
    """Under a storm the queue is long, not lost: resending all of it every 30 s would only grow it."""
    (row_id,) = _owe(runtime, 1)
    sent: list[float] = []
    at = T0
    while at < T0 + timedelta(seconds=1000):
        if outbox.relay_once(runtime.store, lambda t, *r: None, now=at, redeliver_after=30):
            sent.append((at - T0).total_seconds())
        at += timedelta(seconds=5)
    # first send, then after 30, 60, 120, 240, 240, ... seconds
    assert sent[:7] == [0, 35, 100, 225, 470, 715, 960]
    with runtime.store.unit_of_work() as session:
        row = session.get(outbox.OutboxRow, row_id)
        assert row is not None and row.attempts == 7


def test_broker_down_keeps_rows_for_the_next_round(runtime: Runtime) -> None:
    ids = _owe(runtime, 2)

    def down(topic: str, *row_ids: int) -> None:
        raise ConnectionError("broker down")

    assert outbox.relay_once(runtime.store, down, now=T0, redeliver_after=30) == 0
    sent: list[int] = []
    assert outbox.relay_once(runtime.store, lambda t, *r: sent.extend(r), now=T0, redeliver_after=30) == 2
    assert sent == ids


def test_done_rows_are_never_published_again(runtime: Runtime) -> None:
    (row_id,) = _owe(runtime, 1)
    with runtime.store.unit_of_work() as session:
        row = outbox.claim(session, row_id)
        assert row is not None
        outbox.complete(row, T0)
    with runtime.store.unit_of_work() as session:
        assert outbox.claim(session, row_id) is None
        assert outbox.pending_count(session) == 0
    sent: list[int] = []
    outbox.relay_once(
        runtime.store, lambda t, *r: sent.extend(r), now=T0 + timedelta(days=1), redeliver_after=1
    )
    assert sent == []


def test_a_row_left_on_purpose_is_resent_one_period_later_whatever_its_backoff(runtime: Runtime) -> None:
    (row_id,) = _owe(runtime, 1)
    for seconds in (0, 31, 92, 213):  # sent four times: the next resend would wait 8 x 30 s
        assert outbox.relay_once(
            runtime.store, lambda t, *r: None, now=T0 + timedelta(seconds=seconds), redeliver_after=30
        )
    at = T0 + timedelta(seconds=220)
    with runtime.store.unit_of_work() as session:
        outbox.resend_later(session, row_id, at)

    def relay(seconds: int) -> int:
        return outbox.relay_once(
            runtime.store, lambda t, *r: None, now=at + timedelta(seconds=seconds), redeliver_after=30
        )

    assert (relay(29), relay(31)) == (0, 1)


def test_rows_owed_together_come_back_in_the_order_asked_even_for_a_repeated_ref(runtime: Runtime) -> None:
    """One multi-row INSERT whose ids come back unordered: each id still answers its own ref."""
    refs = ["e3", "e1", "e2", "e1"]
    with runtime.store.unit_of_work() as session:
        ids = outbox.enqueue_many(session, topic="event.received", ref_ids=refs, now=T0)
    assert len(set(ids)) == 4
    with runtime.store.unit_of_work() as session:
        assert [session.get(outbox.OutboxRow, i).ref_id for i in ids] == refs  # type: ignore[union-attr]


def test_marking_rows_sent_skips_a_row_a_worker_holds_instead_of_waiting_for_it() -> None:
    """The intake marks its fast path's rows in its next commit; a worker correlating one of them
    holds it until its own commit, and the intake's senders must not wait for that."""
    with postgres_database() as url:
        store = Store(url)
        migrate.upgrade(store)
        with store.unit_of_work() as session:
            ids = outbox.enqueue_many(session, topic="event.received", ref_ids=["e1", "e2"], now=T0)
        with store.unit_of_work() as worker:
            assert outbox.claim(worker, ids[0])  # held until this block ends
            started = time.monotonic()
            with store.unit_of_work() as intake:
                intake.execute(text("SET LOCAL lock_timeout = '5s'"))
                outbox.mark_dispatched(intake, ids, T0)
            assert time.monotonic() - started < 4
        with store.unit_of_work() as session:
            sent = {row.id: row.dispatched_at for row in session.scalars(select(outbox.OutboxRow))}
        assert sent == {ids[0]: None, ids[1]: T0}
        store.dispose()
