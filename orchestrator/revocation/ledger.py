"""The two statements a batch worker runs for every token: claim it, then record its outcome.

Core statements on the worker's connection (the ORM's bulk paths cost the worker more CPU than
the request itself), so one transaction can record the tokens just answered and claim the next:
one commit for each group of tokens, not two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, select, text, update

from orchestrator import clock
from orchestrator.revocation.models import LedgerRow
from orchestrator.store.db import UTCDateTime

__all__ = ["Claimed", "Outcome", "claim", "claim_first", "record"]

Outcome = tuple[int, str, str | None, str | None]
"""(ledger row id, new status, error, TikTok's log_id)"""


class Claimed(NamedTuple):
    """A ledger row a worker now holds (``sending``)."""

    row_id: int
    fingerprint: str
    open_id: str


_TABLE = cast(Table, LedgerRow.__table__)

_RECORD_ON_POSTGRESQL = text(
    "UPDATE revocation_ledger AS l SET status = v.status, error = v.error, log_id = v.log_id, "
    "claimed_by = v.holder, updated_at = :now "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]), CAST(:errors AS varchar[]), "
    "CAST(:log_ids AS varchar[]), CAST(:holders AS varchar[])) AS v(id, status, error, log_id, holder) "
    "WHERE l.id = v.id AND l.claimed_by = :worker"
).bindparams(bindparam("now", type_=UTCDateTime()))

_RECORD = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.claimed_by == bindparam("worker"))
    .values(
        status=bindparam("new_status"),
        error=bindparam("new_error"),
        log_id=bindparam("new_log_id"),
        claimed_by=bindparam("holder"),
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
)


def claim(connection: Connection, ids: Sequence[int], worker_id: str) -> list[Claimed]:
    """Mark the rows still pending as ``sending`` by ``worker_id``: those it got."""
    if not ids:
        return []
    statement = (
        update(_TABLE)
        .where(_TABLE.c.id.in_(ids), _TABLE.c.status == "pending")
        .values(
            status="sending", claimed_by=worker_id, claimed_at=clock.utcnow(), attempts=_TABLE.c.attempts + 1
        )
        .returning(_TABLE.c.id, _TABLE.c.fingerprint, _TABLE.c.open_id)
    )
    return [Claimed(*row) for row in connection.execute(statement)]


def claim_first(
    connection: Connection, limit: int, worker_id: str, *, batch_id: int, revocation_id: str, app: str
) -> list[Claimed]:
    """Take up to ``limit`` pending named rows (``first``) of ``app`` in any batch into
    ``batch_id`` (a batch of that app: its credentials send them), claimed.

    Named open_ids go out before the rest of every revocation already running: whichever batch
    a worker is on takes them at its next claim. They move to that batch (and its revocation, the
    one that sends them), so a worker that dies holding them leaves them to its batch's redelivery.
    Rows another worker is claiming are skipped, not waited for.
    """
    waiting = (
        select(_TABLE.c.id)
        .where(_TABLE.c.status == "pending", _TABLE.c.first.is_(True), _TABLE.c.app == app)
        .order_by(_TABLE.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(_TABLE)
        .where(_TABLE.c.id.in_(waiting.scalar_subquery()), _TABLE.c.status == "pending")
        .values(
            status="sending",
            claimed_by=worker_id,
            claimed_at=clock.utcnow(),
            attempts=_TABLE.c.attempts + 1,
            batch_id=batch_id,
            revocation_id=revocation_id,
        )
        .returning(_TABLE.c.id, _TABLE.c.fingerprint, _TABLE.c.open_id)
    )
    return [Claimed(*row) for row in connection.execute(statement)]


def record(connection: Connection, outcomes: Sequence[Outcome], worker_id: str) -> None:
    """Write outcomes; only rows ``worker_id`` still holds change, and a token left pending is
    released. On PostgreSQL one statement over arrays, elsewhere one statement run per row."""
    if not outcomes:
        return
    now = clock.utcnow()
    holders = [None if status == "pending" else worker_id for _, status, _, _ in outcomes]
    if connection.dialect.name == "postgresql":
        ids, statuses, errors, log_ids = (list(column) for column in zip(*outcomes, strict=True))
        connection.execute(
            _RECORD_ON_POSTGRESQL,
            {"ids": ids, "statuses": statuses, "errors": errors, "log_ids": log_ids, "holders": holders,
             "now": now, "worker": worker_id},
        )  # fmt: skip
        return
    connection.execute(
        _RECORD,
        [
            {"row_id": row_id, "new_status": status, "new_error": error, "new_log_id": log_id,
             "holder": holder, "worker": worker_id, "now": now}
            for (row_id, status, error, log_id), holder in zip(outcomes, holders, strict=True)
        ],
    )  # fmt: skip
