"""StoreTimeline and SessionTimeline: the TimelineWriter port actions use, backed by the store.

An entry whose ``data`` carries an ``idempotency_key`` already present on the chain
with the same kind is dropped, so a step redone after a worker crash does not write
its facts twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.store.db import Store
from orchestrator.timeline import service
from orchestrator.timeline.models import TimelineEntryRow

__all__ = ["SessionTimeline", "StoreTimeline"]


class SessionTimeline:
    """Appends to one chain inside the caller's transaction (an action done in an engine pass)."""

    def __init__(self, session: Session, chain: str) -> None:
        self._session = session
        self._chain = chain

    def append(self, kind: str, message: str, data: dict[str, Any], actor: str) -> None:
        key = data.get("idempotency_key")
        if key is not None and self._seen(kind, str(key)):
            return
        service.append_entry(
            self._session, chain=self._chain, actor=actor, kind=kind, message=message, data=data
        )

    def _seen(self, kind: str, key: str) -> bool:
        rows = self._session.scalars(
            select(TimelineEntryRow.data).where(
                TimelineEntryRow.chain == self._chain, TimelineEntryRow.kind == kind
            )
        )
        return any(isinstance(d, dict) and d.get("idempotency_key") == key for d in rows)


class StoreTimeline:
    """Appends to one chain (an incident's, or a run's own) in its own transaction."""

    def __init__(self, store: Store, chain: str) -> None:
        self._store = store
        self._chain = chain

    def append(self, kind: str, message: str, data: dict[str, Any], actor: str) -> None:
        with self._store.unit_of_work() as session:
            SessionTimeline(session, self._chain).append(kind, message, data, actor)
