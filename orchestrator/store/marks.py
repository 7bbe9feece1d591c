"""Which worker process is running an outbox row: the mark a worker killed on a row leaves behind.

A worker SIGKILLed while running a row writes no error, so the relay's dead-letter cap would
never see it die. A worker marks the rows it starts (``outbox.started_by``, host:pid:life, in a
commit of its own) and clears the mark when it stops; the next worker to start a row whose
mark names a process no longer beating writes that death to ``last_error``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import cast

from sqlalchemy import Table, and_, select, update
from sqlalchemy.orm import Session

from orchestrator.store.db import Store
from orchestrator.store.outbox import OutboxRow

__all__ = ["begin", "end"]

_TABLE = cast(Table, OutboxRow.__table__)


def begin(store: Store, ids: Sequence[int], me: str, live: Callable[[Session], Collection[str]]) -> None:
    """Mark the rows worker process ``me`` (``heartbeats.Beat.process``) starts, in a short
    transaction of its own. A row marked by a process ``live(session)`` (those with a fresh
    heartbeat) does not name was being run by one that died: the death goes to ``last_error``
    (the relay's cap applies) and the row is marked ``me``. A live holder keeps its mark; on
    PostgreSQL a row a worker's transaction holds is skipped (that worker is running it now)."""
    with store.unit_of_work() as session:
        query = select(_TABLE.c.id, _TABLE.c.started_by).where(
            _TABLE.c.id.in_(list(ids)), _TABLE.c.done_at.is_(None)
        )
        rows = session.execute(query.with_for_update(**store.for_update())).all()
        held = [r for r in rows if r.started_by not in (None, me)]
        alive = live(session) if held else ()
        marks: dict[str | None, list[int]] = {None: [r.id for r in rows if r.started_by is None]}
        for row in held:
            if row.started_by not in alive:
                marks.setdefault(row.started_by, []).append(row.id)
        for holder, marked in marks.items():
            died = {"last_error": f"worker {holder} died while running this row"} if holder else {}
            if marked:
                session.execute(update(_TABLE).where(_TABLE.c.id.in_(marked)).values(started_by=me, **died))


def end(store: Store, ids: Sequence[int], me: str) -> None:
    """Clear ``me``'s marks on rows it stopped running. Done rows were cleared by ``complete``,
    so a plain read first spares the usual task a second write transaction (on SQLite, a turn
    at the write lock the intake waits for)."""
    mine = and_(_TABLE.c.id.in_(list(ids)), _TABLE.c.started_by == me)
    with store.engine.connect() as conn:
        if conn.execute(select(_TABLE.c.id).where(mine).limit(1)).first() is None:
            return
    with store.unit_of_work() as session:
        session.execute(update(_TABLE).where(mine).values(started_by=None))
