"""Group commit: the events of concurrent requests become durable together, on one writer thread.

One transaction per batch instead of one per request (SQLite has one write lock; PostgreSQL
saves a commit per request), on a thread of its own rather than the event loop's thread pool:
handing each commit to a pool thread cost more than the commit. A request's future resolves
with its outbox ids only after its batch committed; a batch that fails is retried request by
request, so one bad request never fails the others. After the commit the batch is published as
one broker message. Its rows are written already marked dispatched, so a batch costs one
transaction of three statements; rows whose publish failed are handed back to the relay
(unmarked) in the next batch's transaction, or one of their own when no batch follows. A process
that dies between a commit and its publish leaves those rows to the relay's redelivery
(``redeliver_after_seconds``) instead of its one-second grace. Requests that are ``urgent`` (an
event that engages the kill switch, ``intake/critical.py``) skip the queue: the next batch is
theirs alone, so they wait for at most the commit under way, not for a storm's pending alerts. On
PostgreSQL, which has no one write lock, they have a writer of their own (a second thread and
connection, ``GroupCommit.fast``) and wait for no commit of the storm's at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from orchestrator import clock
from orchestrator.errors import StoreError
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.logging import get_logger
from orchestrator.store.db import Store
from orchestrator.store.outbox import Publisher

__all__ = ["GroupCommit"]

log = get_logger(__name__)


class ClosablePublisher(Protocol):
    """A publisher (``store.outbox.Publisher``) that holds a connection until closed."""

    def __call__(self, topic: str, *row_ids: int) -> None: ...

    def close(self) -> None: ...


IDLE_SECONDS = 60.0
"""An idle writer thread ends after this long (an app built per test must not leave one each);
a served app's writer (``intake/app.prepare``) never ends, so an event after an idle hour does not
wait for a new thread and broker connection."""
BROKER_PAUSE = 2.0
"""Seconds the writer leaves publishing to the relay after the broker failed it."""
MESSAGE_EVENTS = 100
"""Events per broker message at most: a backlog published at once still spreads over workers."""


@dataclass
class _Request:
    events: list[CompromiseEvent]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[int]]

    def settle(self, outcome: list[int] | Exception) -> None:
        self.loop.call_soon_threadsafe(_settle, self.future, outcome)


def _settle(future: asyncio.Future[list[int]], outcome: list[int] | Exception) -> None:
    if future.done():  # the request went away; its events are durable all the same
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class GroupCommit:
    """One writer thread per process, started when work arrives and ended when idle; ``accept``
    awaits durability. The thread also publishes, with a publisher that fails fast
    (``publisher(fail_fast=True)``): after a failure it leaves publishing to the relay for
    ``BROKER_PAUSE`` seconds, so a broker that is down never holds up a commit for long."""

    def __init__(
        self,
        store: Store,
        connect: Callable[[], ClosablePublisher],
        *,
        max_events: int = 2000,
        before_commit: intake.BeforeCommit | None = None,
        urgent: Callable[[Sequence[CompromiseEvent]], bool] | None = None,
        idle_seconds: float | None = IDLE_SECONDS,
        name: str = "intake-writer",
    ) -> None:
        self._store = store
        self._name = name
        self._before_commit = before_commit
        self._urgent = urgent
        self._first: list[_Request] = []
        self._connect = connect
        self._max = max_events
        self._pending: list[_Request] = []
        self._unsent: list[int] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._broker_back_at = 0.0
        self._idle_seconds = idle_seconds
        self.fast: GroupCommit | None = None
        """The urgent requests' own writer on PostgreSQL (None on SQLite: its one write lock would
        have the two take turns, and the urgent requests go first in this one's queue instead)."""
        if urgent is not None and not store.is_sqlite:
            self.fast = GroupCommit(
                store,
                connect,
                max_events=max_events,
                before_commit=before_commit,
                idle_seconds=idle_seconds,
                name="intake-writer-first",
            )

    def start(self) -> None:
        """Start the writer thread (and its broker connection) now rather than on the first
        request, so the first event waits for neither; with ``idle_seconds`` None it never ends."""
        with self._wake:
            self._start()
        if self.fast is not None:
            self.fast.start()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    async def accept(self, events: list[CompromiseEvent]) -> list[int]:
        """Wait until ``events`` are durable; return their outbox ids (``StoreError`` if not)."""
        first = self._urgent is not None and self._urgent(events)
        if first and self.fast is not None:
            return await self.fast.accept(events)
        loop = asyncio.get_running_loop()
        request = _Request(events, loop, loop.create_future())
        with self._wake:
            (self._first if first else self._pending).append(request)
            self._start()
            self._wake.notify()
        return await request.future

    def _take(self) -> tuple[list[_Request], list[int]] | None:
        """The next batch and the rows to unmark, or None once idle ``idle_seconds`` (the thread ends)."""
        with self._wake:
            while not self._first and not self._pending and not self._unsent:
                idle = not self._wake.wait(timeout=self._idle_seconds)
                if idle and not self._first and not self._pending and not self._unsent:
                    self._thread = None
                    return None
            if self._first:  # urgent requests alone: a small commit, at once
                batch, self._first = self._first, []
                unsent, self._unsent = self._unsent, []
                return batch, unsent
            batch = []
            count = 0
            while self._pending and (not batch or count + len(self._pending[0].events) <= self._max):
                batch.append(self._pending.pop(0))
                count += len(batch[-1].events)
            unsent, self._unsent = self._unsent, []
            return batch, unsent

    def _run(self) -> None:
        publish = self._connect()  # the thread's own: a broker connection serves one thread
        try:
            while (taken := self._take()) is not None:
                batch, unsent = taken
                publishing = time.monotonic() >= self._broker_back_at
                ids = self._write(batch, unsent, publishing)
                if ids and publishing:
                    self._hand_on(publish, ids)
        finally:
            publish.close()

    def _write(self, batch: list[_Request], unsent: list[int], publishing: bool) -> list[int]:
        """Commit a batch (its rows marked sent when ``publishing``) and unmark ``unsent``, settle
        its requests; return the committed ids."""
        try:
            ids = self._commit([e for request in batch for e in request.events], unsent, publishing)
        except Exception:
            if batch:  # the rows to unmark wait for a later commit
                with self._wake:
                    self._unsent += unsent
            # else the store is down and only unmarking was owed: drop it (the relay sends those
            # rows after its redelivery delay instead of its grace) rather than retry in a loop
            return self._one_by_one(batch, publishing)
        rest = ids
        for request in batch:
            request.settle(rest[: len(request.events)])
            rest = rest[len(request.events) :]
        return ids

    def _one_by_one(self, batch: list[_Request], publishing: bool) -> list[int]:
        """Each request alone, so one request's failure is its own."""
        done: list[int] = []
        for request in batch:
            try:
                alone = self._commit(request.events, [], publishing)
            except Exception as exc:
                request.settle(exc)
                continue
            request.settle(alone)
            done += alone
        return done

    def _commit(self, events: list[CompromiseEvent], unsent: list[int], publishing: bool) -> list[int]:
        try:
            with self._store.ahead():  # senders wait for this commit; workers can wait a little
                return intake.accept_events(
                    self._store,
                    events,
                    now=clock.utcnow(),
                    publishing=publishing,
                    unsent=unsent,
                    before_commit=self._before_commit,
                )
        except SQLAlchemyError as exc:  # a connection lost mid-commit: the store is down, 503 not 500
            raise StoreError(f"the store failed the commit: {type(exc).__name__}") from exc

    def _hand_on(self, publish: Publisher, ids: list[int]) -> None:
        """Committed rows to the broker, ``MESSAGE_EVENTS`` to a message; the rows of a failed
        publish are unmarked in the next commit, for the relay."""
        for at in range(0, len(ids), MESSAGE_EVENTS):
            try:
                publish(intake.EVENT_TOPIC, *ids[at : at + MESSAGE_EVENTS])
            except Exception as exc:
                self._broker_back_at = time.monotonic() + BROKER_PAUSE
                log.warning("fast-path publish failed; the relay will send", error=type(exc).__name__)
                with self._wake:
                    self._unsent += ids[at:]
                return
