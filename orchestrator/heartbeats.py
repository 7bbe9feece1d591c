"""Heartbeats of the workers and the scheduler, and the readiness they add up to.

Workers and the scheduler answer no HTTP, so each writes a row to the store every
``BEAT_SECONDS``; any API process reads them all for ``/readyz`` and ``/metrics``. A role is
missing when no process of it beat within ``STALE_SECONDS``: the scheduler (it drives the
outbox relay, retries, approval timeouts and the kill-switch mirror) and a worker for each queue.
A process that stops cleanly deletes its row at once; one that dies leaves it to go stale.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestrator import clock
from orchestrator.logging import get_logger
from orchestrator.routing import QUEUES
from orchestrator.store.db import Base, Store, UTCDateTime

__all__ = [
    "BEAT_SECONDS",
    "STALE_SECONDS",
    "Beat",
    "HeartbeatRow",
    "HeartbeatThread",
    "Readiness",
    "beat",
    "forget",
    "live_processes",
    "read_beats",
    "readiness",
    "roles",
    "this_process",
]

BEAT_SECONDS = 5.0
STALE_SECONDS = 20.0
"""Four beats missed: a busy store may delay one, never four (``/readyz`` fails within 20 s)."""
_FORGET_AFTER = timedelta(hours=1)  # rows of processes that died; long enough to see in /metrics
_log = get_logger(__name__)


class HeartbeatRow(Base):
    """One row per running worker or scheduler process, rewritten every beat."""

    __tablename__ = "heartbeats"

    process: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid:life
    role: Mapped[str] = mapped_column(String(16))  # worker | scheduler
    queues: Mapped[str] = mapped_column(String(200), default="")  # a worker's, comma-separated
    host: Mapped[str] = mapped_column(String(100))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())


_life: tuple[int, str] = (0, "")


def this_life() -> str:
    """A token drawn once per process (and again in a forked child). A container restarted after
    a kill has the same host name and often the same pid (1): without it the new worker would
    take the marks its killed predecessor left (``store/marks.py``) for its own, and a row that
    kills every worker taking it would never be dead-lettered."""
    global _life
    if _life[0] != os.getpid():
        _life = (os.getpid(), secrets.token_hex(4))
    return _life[1]


@dataclass(frozen=True)
class Beat:
    """What a process says of itself; ``process`` (host:pid:life) is unique per process, even
    across restarts that reuse a host name and pid."""

    role: str
    queues: tuple[str, ...] = ()
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    life: str = field(default_factory=this_life)
    started_at: datetime = field(default_factory=clock.utcnow)

    @property
    def process(self) -> str:
        return f"{self.host[:100]}:{self.pid}:{self.life}"


def this_process() -> str:
    """The identity this process beats under (``Beat.process``)."""
    return Beat("").process


def beat(store: Store, me: Beat) -> None:
    """Write ``me``'s heartbeat now, and forget processes silent for an hour."""
    now = clock.utcnow()
    with store.unit_of_work() as session:
        row = session.get(HeartbeatRow, me.process)
        if row is None:
            session.add(
                HeartbeatRow(
                    process=me.process,
                    role=me.role,
                    queues=",".join(me.queues),
                    host=me.host[:100],
                    pid=me.pid,
                    started_at=me.started_at,
                    beat_at=now,
                )
            )
        else:
            row.beat_at = now
        session.execute(delete(HeartbeatRow).where(HeartbeatRow.beat_at < now - _FORGET_AFTER))


def forget(store: Store, me: Beat) -> None:
    """Delete ``me``'s row (a clean stop): readiness sees the role gone at once."""
    with store.unit_of_work() as session:
        session.execute(delete(HeartbeatRow).where(HeartbeatRow.process == me.process))


class HeartbeatThread:
    """A thread beating for ``me`` every ``BEAT_SECONDS`` from ``start()`` to ``stop()``; a beat
    that fails (store down) is logged and tried again at the next one."""

    def __init__(self, store: Store, me: Beat) -> None:
        self._store, self._me = store, me
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and delete the row; safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            forget(self._store, self._me)
        except Exception as exc:  # the row goes stale instead
            _log.warning("heartbeat not removed", error=type(exc).__name__)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                beat(self._store, self._me)
            except Exception as exc:
                _log.warning("heartbeat failed; will retry", error=type(exc).__name__)
            self._stopped.wait(BEAT_SECONDS)


def read_beats(session: Session) -> list[HeartbeatRow]:
    return list(session.scalars(select(HeartbeatRow).order_by(HeartbeatRow.process)))


def live_processes(session: Session) -> set[str]:
    """The processes that beat within ``STALE_SECONDS`` (``marks.begin``'s ``live``)."""
    since = clock.utcnow() - timedelta(seconds=STALE_SECONDS)
    return set(session.scalars(select(HeartbeatRow.process).where(HeartbeatRow.beat_at >= since)))


@dataclass(frozen=True)
class Readiness:
    """Live processes per role (``scheduler`` and ``worker:<queue>``); ``missing`` names roles with none."""

    alive: dict[str, int]

    @property
    def missing(self) -> list[str]:
        return [role for role, count in self.alive.items() if count == 0]


def roles() -> list[str]:
    return ["scheduler", *(f"worker:{queue}" for queue in QUEUES)]


def readiness(rows: list[HeartbeatRow], now: datetime) -> Readiness:
    """Which roles have a process that beat within ``STALE_SECONDS`` of ``now``."""
    alive = dict.fromkeys(roles(), 0)
    for row in rows:
        if (now - row.beat_at).total_seconds() > STALE_SECONDS:
            continue
        if row.role == "scheduler":
            alive["scheduler"] += 1
        for queue in filter(None, row.queues.split(",")):
            if f"worker:{queue}" in alive:
                alive[f"worker:{queue}"] += 1
    return Readiness(alive)
