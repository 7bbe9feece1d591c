"""A lease on a row: held by the worker doing the row's work, renewed while it works.

A second delivery of the same work finds the lease held and leaves; when the holder dies
the lease runs out and the next delivery takes over. Rows carry a ``lease_until`` column.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from orchestrator import clock
from orchestrator.logging import get_logger
from orchestrator.store.db import Store

__all__ = ["Lease", "lease_seconds"]

log = get_logger(__name__)


def lease_seconds(redeliver_after: float) -> float:
    """How long a holder may go without renewing: three renewals late, and never under 10 s,
    so a busy but living worker keeps its work; a dead one loses it within that time."""
    return max(3 * redeliver_after, 10.0)


class Lease:
    """Renews ``model.lease_until`` (or ``column``) for the row matching ``conditions`` every third
    of ``seconds``."""

    def __init__(
        self, store: Store, model: Any, seconds: float, *conditions: Any, column: str = "lease_until"
    ) -> None:
        self._store, self._model, self._seconds, self._conditions = store, model, seconds, conditions
        self._column = column
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name=f"lease-{model.__tablename__}")

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _renew(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                with self._store.unit_of_work() as session:
                    session.execute(
                        update(self._model)
                        .where(*self._conditions)
                        .values({self._column: clock.utcnow() + timedelta(seconds=self._seconds)})
                    )
            except Exception as exc:  # the next renewal tries again; expiry only means a redo
                log.warning("lease renewal failed", table=self._model.__tablename__, error=str(exc))
