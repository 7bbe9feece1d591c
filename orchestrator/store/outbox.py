"""The outbox: work written in the same transaction as the fact it follows from.

A row is the store's promise that a task will run. The API and flows write rows;
the relay publishes due rows to the broker; a worker claims its row, does the work
and marks the row done in the same transaction. A row published but not done
after ``redeliver_after`` seconds is published again (a worker died, the broker lost
it, or the broker was down), and a claimed row that is already done is dropped, so
work is never lost and never done twice. Each further resend waits twice as long (up to
``MAX_BACKOFF`` times ``redeliver_after``): under a storm the queue is long, not lost, and
resending all of it every ``redeliver_after`` would only make it longer.

A worker whose task raised writes the error to its rows (``record_failure``). A row sent
``max_attempts`` times, still not done and with an error recorded is dead-lettered instead of sent
again (``dead_at`` set): it stops costing the broker and a worker each round, and waits for a
person (``orchestrator outbox list --dead``, ``outbox retry ID``). A row with no error is not
failing, only waiting (a mass revocation's batches queue for hours behind the rate limit) or
lost with a killed worker: it is sent again as before. A worker killed while running a row
(SIGKILL, out of memory) writes nothing, so a worker marks the rows it starts with its heartbeat
identity (``marks.begin``, ``started_by``) and clears the mark when it stops (``marks.end``); the next worker
to start a row whose mark names a process no longer alive writes that death to ``last_error``,
and a row that kills every worker that runs it is dead-lettered like one that raises. Done rows
are deleted after the retention (``purge_done``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    JSON,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestrator.store.db import Base, Store, UTCDateTime

__all__ = [
    "DeadRow",
    "OnDead",
    "OutboxRow",
    "Publisher",
    "claim",
    "complete",
    "dead_count",
    "enqueue",
    "enqueue_many",
    "mark_dispatched",
    "mark_unsent",
    "pending_count",
    "purge_done",
    "record_failure",
    "redelivery_window",
    "relay_once",
    "resend_later",
]

MAX_BACKOFF = 8
"""A row sent n times is resent after ``redeliver_after * min(2**(n-1), MAX_BACKOFF)`` seconds."""

FAST_PATH_GRACE = 1.0
"""Seconds a row that was never sent is left to the process that committed it (it publishes
after its commit and marks the row): the relay would otherwise send most fresh rows twice."""

RELAY_CHUNK = 100
"""Rows of one topic the relay hands to one publish call (one message for a batched topic)."""

NEW_ROWS = "outbox_new_rows"
"""Key in ``Session.info`` listing (topic, id) of rows enqueued in the transaction."""

MAX_ERROR = 500
"""Characters of an error kept in ``last_error``."""

Publisher = Callable[..., None]
"""``publish(topic, *row_ids)``: sends rows of one topic to the broker (one message for a
topic whose task takes a batch, see ``routing.BATCHED_TOPICS``); raises when it cannot."""


class DeadRow(NamedTuple):
    """A row the relay has just dead-lettered, for whoever records it (the incident's timeline)."""

    id: int
    topic: str
    ref_id: str
    attempts: int
    last_error: str


OnDead = Callable[[Session, list[DeadRow]], None]
"""Called in the transaction that dead-letters rows, to record them beside the work they stood for."""


def redelivery_window(redeliver_after: float, max_attempts: int) -> float:
    """Seconds from a row's first send to its dead-lettering, if no worker ever finishes it."""
    return float(sum(redeliver_after * min(2 ** (n - 1), MAX_BACKOFF) for n in range(1, max_attempts + 1)))


class OutboxRow(Base):
    """One unit of work still owed, or done (``done_at`` set)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64))
    ref_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_by: Mapped[str | None] = mapped_column(String(120), nullable=True)  # host:pid:life running it

    __table_args__ = (Index("ix_outbox_pending", "done_at", "id"),)


def enqueue(
    session: Session, *, topic: str, ref_id: str, now: datetime, payload: dict[str, Any] | None = None
) -> OutboxRow:
    """Owe one unit of work; it becomes visible to the relay when the transaction commits."""
    row = OutboxRow(topic=topic, ref_id=ref_id, payload=payload or {}, created_at=now, attempts=0)
    session.add(row)
    session.flush()
    session.info.setdefault(NEW_ROWS, []).append((topic, row.id))
    return row


_TABLE = cast(Table, OutboxRow.__table__)
_INSERT_MANY = insert(_TABLE).returning(_TABLE.c.id, _TABLE.c.ref_id)
_UNDONE = select(_TABLE.c.id).where(
    _TABLE.c.id.in_(bindparam("ids", expanding=True)), _TABLE.c.done_at.is_(None)
)


def _undone_update(values: dict[str, Any]) -> dict[str, Any]:
    """``UPDATE outbox SET values`` for the rows ``:ids`` not yet done, by dialect."""
    return {
        "sqlite": update(_TABLE).where(_TABLE.c.id.in_(_UNDONE)).values(values),
        # A row a worker holds is being done now: updating it would wait for that whole transaction.
        "postgresql": update(_TABLE)
        .where(_TABLE.c.id.in_(_UNDONE.with_for_update(skip_locked=True)))
        .values(values),
    }


_MARK_DISPATCHED = _undone_update({"dispatched_at": bindparam("now"), "attempts": _TABLE.c.attempts + 1})
_MARK_UNSENT = _undone_update({"dispatched_at": None, "attempts": 0, "started_by": None})


def enqueue_many(
    session: Session, *, topic: str, ref_ids: Sequence[str], now: datetime, sent: bool = False
) -> list[int]:
    """Owe one unit of work per ``ref_id`` in one multi-row INSERT; their ids, in order. With
    ``sent``, the rows are recorded as dispatched at ``now``: the caller publishes them right
    after the commit (and calls ``mark_unsent`` if it cannot), so marking them costs no statement.

    A Core statement, not ORM objects: the intake writes every accepted event through here, and
    the unit of work's bookkeeping per object cost more than the INSERT itself. The ids come back
    unordered and are matched by ``ref_id`` (rows of one ref are alike): asked for them in order,
    SQLite inserts one row per statement."""
    if not ref_ids:
        return []
    row: dict[str, Any] = {"topic": topic, "payload": {}, "created_at": now}
    row |= {"dispatched_at": now, "attempts": 1} if sent else {"dispatched_at": None, "attempts": 0}
    params = [{**row, "ref_id": ref} for ref in ref_ids]
    by_ref: dict[str, list[int]] = {}
    for row_id, ref in sorted(session.execute(_INSERT_MANY, params).all()):
        by_ref.setdefault(ref, []).append(row_id)
    ids = [by_ref[ref].pop(0) for ref in ref_ids]
    session.info.setdefault(NEW_ROWS, []).extend((topic, row_id) for row_id in ids)
    return ids


def mark_dispatched(session: Session, ids: Sequence[int], now: datetime) -> None:
    """Record that rows went to the broker, so the relay waits before sending them again.

    Rows a worker holds are skipped (PostgreSQL): it is doing them now, and the intake, which
    marks its fast path's rows in its next commit, would otherwise wait for the worker's commit
    (a worker takes the owed rows after its message along, so it often holds freshly sent ones)."""
    if ids:
        statement = _MARK_DISPATCHED.get(session.get_bind().dialect.name, _MARK_DISPATCHED["sqlite"])
        session.execute(statement, {"ids": list(ids), "now": now})


def mark_unsent(session: Session, ids: Sequence[int]) -> None:
    """Undo ``enqueue_many(sent=True)`` for rows the caller could not publish after all: the relay
    sends them after its grace instead of after ``redeliver_after``."""
    if ids:
        statement = _MARK_UNSENT.get(session.get_bind().dialect.name, _MARK_UNSENT["sqlite"])
        session.execute(statement, {"ids": list(ids)})


def resend_later(session: Session, row_id: int, now: datetime, *, progress: bool = True) -> None:
    """Owe a row again one ``redeliver_after`` from now, its backoff reset: its worker made progress
    and stopped on purpose (tokens left for another pass), it is not a lost message. Without
    ``progress`` (a delivery found the row held) only this send goes uncounted: a holder that died
    leaves its lease to expire, and each worker that takes it and dies counts towards the cap."""
    attempts = 1 if progress else case((OutboxRow.attempts > 1, OutboxRow.attempts - 1), else_=1)
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == row_id, OutboxRow.done_at.is_(None))
        .values(dispatched_at=now, attempts=attempts)
    )


def relay_once(
    store: Store,
    publish: Publisher,
    *,
    now: datetime,
    redeliver_after: float,
    batch: int = 500,
    max_attempts: int | None = None,
    on_dead: OnDead | None = None,
) -> int:
    """Publish every row that was never sent or whose last send is stale; return the count.

    A row younger than ``FAST_PATH_GRACE`` that was never sent is left to the fast path that
    owes it (its process publishes it after the commit). A stale row already sent
    ``max_attempts`` times whose worker recorded an error is dead-lettered instead (``on_dead``
    records it in that transaction).
    On PostgreSQL the rows stay locked (skip locked) while they are published, so two schedulers
    never send the same row; on SQLite the lock would be the whole database, which the intake
    waits for, so the rows are read in one short transaction, published outside any, and marked
    in another.
    """
    # sent n times: due again redeliver_after * 2**(n-1) seconds after the last send, at most * 8
    doubling = [(OutboxRow.attempts <= n, _before(now, redeliver_after * 2 ** (n - 1))) for n in (1, 2, 3)]
    stale = case(*doubling, else_=_before(now, redeliver_after * MAX_BACKOFF))
    never_sent = and_(OutboxRow.dispatched_at.is_(None), OutboxRow.created_at < _before(now, FAST_PATH_GRACE))
    query = (
        select(OutboxRow.id, OutboxRow.topic, OutboxRow.attempts, OutboxRow.last_error)
        .where(
            OutboxRow.done_at.is_(None),
            OutboxRow.dead_at.is_(None),
            or_(never_sent, OutboxRow.dispatched_at < stale),
        )
        .order_by(OutboxRow.id)
        .limit(batch)
    )
    cap = max_attempts if max_attempts is not None else float("inf")

    def failing(row: Any) -> bool:
        return bool(row.attempts >= cap and row.last_error)

    if store.is_sqlite:
        with store.unit_of_work() as session:
            rows = session.execute(query).all()
        sent = _send(publish, [(r.id, r.topic) for r in rows if not failing(r)])
        with store.unit_of_work() as session:
            mark_dispatched(session, sent, now)
            _dead_letter(session, [r.id for r in rows if failing(r)], now, on_dead)
        return len(sent)
    with store.unit_of_work() as session:
        rows = session.execute(query.with_for_update(**store.for_update())).all()
        sent = _send(publish, [(r.id, r.topic) for r in rows if not failing(r)])
        mark_dispatched(session, sent, now)
        _dead_letter(session, [r.id for r in rows if failing(r)], now, on_dead)
    return len(sent)


def _dead_letter(session: Session, ids: list[int], now: datetime, on_dead: OnDead | None) -> None:
    """Mark rows dead (those still not done) and hand them to ``on_dead``."""
    if not ids:
        return
    rows = session.scalars(
        select(OutboxRow).where(OutboxRow.id.in_(ids), OutboxRow.done_at.is_(None)).with_for_update()
    ).all()
    for row in rows:
        row.dead_at = now
    if on_dead is not None and rows:
        on_dead(session, [DeadRow(r.id, r.topic, r.ref_id, r.attempts, r.last_error or "") for r in rows])


def _send(publish: Publisher, rows: Sequence[Any]) -> list[int]:
    """Publish rows a topic at a time, ``RELAY_CHUNK`` to a call; stop at the first failure
    (broker down: the rest wait for the next round, nothing is lost)."""
    sent: list[int] = []
    chunk: list[int] = []
    for index, (row_id, topic) in enumerate(rows):
        chunk.append(row_id)
        last = index + 1 == len(rows)
        if last or len(chunk) == RELAY_CHUNK or rows[index + 1][1] != topic:
            try:
                publish(topic, *chunk)
            except Exception:
                break
            sent += chunk
            chunk = []
    return sent


def _before(now: datetime, seconds: float) -> Any:
    return literal(now - timedelta(seconds=seconds), UTCDateTime())


def claim(session: Session, row_id: int) -> OutboxRow | None:
    """Lock a row for its worker; None when it is unknown or already done (a redelivery)."""
    row = session.get(OutboxRow, row_id, with_for_update=True)
    if row is None or row.done_at is not None:
        return None
    return row


def complete(row: OutboxRow, now: datetime) -> None:
    """Mark a claimed row done (a dead row a late delivery did after all too); commits with the
    work it stood for."""
    row.done_at = now
    row.dead_at = None
    row.last_error = None
    row.started_by = None


def record_failure(store: Store, ids: Sequence[int], error: str) -> None:
    """Write why a worker's task on these rows failed, in a transaction of its own (the task's
    rolled back); rows already done keep no error. The caller redacts ``error``."""
    with store.unit_of_work() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(list(ids)), OutboxRow.done_at.is_(None))
            .values(last_error=error[:MAX_ERROR])
        )


def pending_count(session: Session) -> int:
    """Rows not yet done and not dead (the outbox depth)."""
    query = select(func.count()).where(OutboxRow.done_at.is_(None), OutboxRow.dead_at.is_(None))
    return int(session.scalar(query) or 0)


def dead_count(session: Session) -> int:
    """Rows dead-lettered and not retried yet."""
    query = select(func.count()).where(OutboxRow.done_at.is_(None), OutboxRow.dead_at.is_not(None))
    return int(session.scalar(query) or 0)


def purge_done(session: Session, *, done_before: datetime, batch: int) -> int:
    """Delete up to ``batch`` rows done before ``done_before``, oldest first; how many went."""
    doomed = (
        select(OutboxRow.id)
        .where(OutboxRow.done_at.is_not(None), OutboxRow.done_at < done_before)
        .order_by(OutboxRow.done_at)
        .limit(batch)
    )
    ids = list(session.scalars(doomed))
    if ids:
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))
    return len(ids)
