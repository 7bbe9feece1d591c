"""Who goes first for SQLite's one write lock: the intake, whose senders wait for its answer.

SQLite keeps no queue for its write lock; a writer polls ``BEGIN IMMEDIATE`` until it gets it.
A worker whose threads write back to back hands the lock from one thread to the next inside its
process, while the intake, polling from another process, lost for hundreds of milliseconds at a
time. A file lock beside the database says that the intake is waiting: the intake holds it
exclusively only while it waits to begin, and every other writer waits for it to be free before
it begins. The intake then waits for at most the transaction already running, and a writer
whose transaction goes on (a worker correlating a message) asks ``intake_waiting`` between units
of its work and commits early when it is.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["WriteTurns"]

_PATIENCE = 5.0
"""Seconds another writer defers to a waiting intake at most (the intake may have died holding it)."""


class WriteTurns:
    """The turn lock of one SQLite database, shared by every process that writes to it."""

    def __init__(self, database_path: str) -> None:
        self._path = f"{database_path}-turns"
        self._ahead = threading.local()
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fd(self, role: str) -> int:
        """One open file per role: ``flock`` locks belong to an open file, and the intake's
        exclusive lock must not be converted by a check from another thread of its process."""
        with self._lock:
            if role not in self._fds:
                self._fds[role] = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            return self._fds[role]

    @contextmanager
    def ahead(self) -> Iterator[None]:
        """Transactions this thread begins inside the block go first."""
        self._ahead.on = True
        try:
            yield
        finally:
            self._ahead.on = False

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Around one ``BEGIN IMMEDIATE``: claim the turn, or wait while someone ahead waits."""
        if getattr(self._ahead, "on", False):
            fd = self._fd("ahead")
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return
        fd = self._fd("behind")
        deadline = time.monotonic() + _PATIENCE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.0005)
                    continue
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
            break
        yield

    def intake_waiting(self) -> bool:
        """Whether the intake is waiting to begin now: a long writer commits early to let it in."""
        fd = self._fd("behind")
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        with self._lock:
            fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            os.close(fd)
