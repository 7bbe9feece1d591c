"""The memory of signed deliveries already taken: a ``ReplayGuard`` remembers a key for a while.

``StoreReplayGuard`` is the one every API process shares (the store); ``InMemoryReplayGuard``
serves a single process (tests, tools). In the store, ``seen_before`` is one atomic statement,
``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE the old key has expired``, on SQLite and
PostgreSQL alike: exactly one of two processes racing on the same key gets ``False``. Expired
rows are deleted by the scheduler's retention sweep (orchestrator/retention.py, through
``purge_expired``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import Index, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator import clock
from orchestrator.store.db import Base, Store, UTCDateTime

__all__ = ["InMemoryReplayGuard", "ReplayGuard", "ReplayKeyRow", "StoreReplayGuard", "purge_expired"]

_MAX_KEY: Final = 200


class ReplayGuard(Protocol):
    """Remembers keys for a while; ``seen_before`` records the key and says if it was there."""

    def seen_before(self, key: str, ttl_seconds: float) -> bool: ...

    def forget(self, key: str) -> None:
        """Drop a key, so the sender's retry of a delivery that was not accepted gets in."""


class InMemoryReplayGuard:
    """A process-local ``ReplayGuard``: keys expire after their ttl; at most ``max_keys``
    are kept (oldest dropped first), so memory stays bounded."""

    def __init__(self, *, max_keys: int = 100_000, now: Callable[[], float] = clock.monotonic) -> None:
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._max = max_keys
        self._now = now
        self._lock = threading.Lock()

    def seen_before(self, key: str, ttl_seconds: float) -> bool:
        now = self._now()
        with self._lock:
            self._expire(now)
            expires = self._keys.get(key)
            if expires is not None and expires > now:
                return True
            self._keys[key] = now + ttl_seconds
            self._keys.move_to_end(key)
            while len(self._keys) > self._max:
                self._keys.popitem(last=False)
            return False

    def forget(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def _expire(self, now: float) -> None:
        # Keys are appended in arrival order; ttls differ, so sweep a bounded prefix only.
        for key in list(self._keys)[:64]:
            if self._keys[key] <= now:
                del self._keys[key]


class ReplayKeyRow(Base):
    """A key that must not be accepted again before ``expires_at``."""

    __tablename__ = "replay_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_replay_keys_expires_at", "expires_at"),)


def _stored_key(key: str) -> str:
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class StoreReplayGuard:
    """``ReplayGuard`` on the orchestrator's store; raises ``StoreError`` when it is down
    (the intake then answers 503, which the sender retries)."""

    def __init__(self, store: Store, *, now: Callable[[], datetime] = clock.utcnow) -> None:
        self._store = store
        self._now = now
        insert: Any = sqlite.insert if store.is_sqlite else postgresql.insert
        self._insert = insert

    def seen_before(self, key: str, ttl_seconds: float) -> bool:
        now = self._now()
        expires = now + timedelta(seconds=ttl_seconds)
        table = ReplayKeyRow.__table__
        statement = (
            self._insert(table)
            .values(key=_stored_key(key), expires_at=expires)
            .on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"expires_at": expires},
                where=table.c.expires_at <= now,
            )
            .returning(table.c.key)
        )
        with self._store.unit_of_work() as session:
            # A row comes back when the key was inserted or its expired row taken over.
            return session.execute(statement).first() is None

    def forget(self, key: str) -> None:
        with self._store.unit_of_work() as session:
            session.execute(delete(ReplayKeyRow).where(ReplayKeyRow.key == _stored_key(key)))

    def remembered(self, key: str) -> datetime | None:
        """When ``key`` expires, or None if it is not remembered (for tests and operators)."""
        with self._store.unit_of_work() as session:
            return session.scalar(select(ReplayKeyRow.expires_at).where(ReplayKeyRow.key == _stored_key(key)))


def purge_expired(store: Store, *, now: datetime, batch: int = 10_000) -> int:
    """Delete up to ``batch`` expired keys; return how many went."""
    with store.unit_of_work() as session:
        doomed = select(ReplayKeyRow.key).where(ReplayKeyRow.expires_at <= now).limit(batch)
        result: Any = session.execute(delete(ReplayKeyRow).where(ReplayKeyRow.key.in_(doomed)))
        return int(result.rowcount or 0)
