"""Helpers for tests that SIGKILL real ``orchestrator`` processes and restart them on the same store.

``Site`` is one data dir (the embedded default: SQLite store and filesystem broker) with the
processes started on it; ``SlowSmtp`` is a real SMTP server (aiosmtpd) that can stall once at a
chosen point of the conversation, so a test can kill the sending worker exactly there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.config import load_settings
from orchestrator.revocation.models import LedgerRow
from orchestrator.store.db import Store
from orchestrator.timeline.models import TimelineEntryRow
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN

__all__ = [
    "SENDER",
    "KillingSenders",
    "Site",
    "SlowSmtp",
    "count_entries",
    "in_flight_bound",
    "kill_mid_revocation",
    "ledger_count",
]

T = TypeVar("T")
SENDER = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


class Site:
    """A data dir, the environment every process on it shares, and the processes started."""

    def __init__(self, tmp: Path, *, observe_url: str | None = None, **settings: str) -> None:
        self.tmp = tmp
        self.observe_url = observe_url  # where the test reads the store, when not where the processes do
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.data = tmp / "data"
        self.env = orchestrator_env(
            self.data,
            intake_token=INTAKE_TOKEN,
            api_token=API_TOKEN,
            **{"redeliver_after_seconds": "2", "relay_interval_seconds": "0.2", **settings},
        )
        self.procs: list[Proc] = []
        self._store: Store | None = None

    def start(self, *args: str) -> Proc:
        """Start ``orchestrator <args>``; ``up`` and ``serve`` listen on the site's port."""
        if args[0] in ("up", "serve"):
            args = (*args, "--port", str(self.port))
        log = self.tmp / f"{args[0]}-{len(self.procs)}.log"
        self.procs.append(Proc(list(args), env=self.env, cwd=self.tmp, log=log))
        return self.procs[-1]

    def healthy(self, timeout: float = 60) -> None:
        wait_for(
            lambda: httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200,
            timeout=timeout,
            what="the API's /healthz",
        )

    @property
    def store(self) -> Store:
        """The site's store, read from the test process (the file the processes write)."""
        if self._store is None:
            embedded = load_settings(overrides={"data_dir": self.data}).store_url
            self._store = Store(self.observe_url or self.env.get("ORCH_DATABASE_URL") or embedded)
        return self._store

    def read(self, query: Callable[[Session], T]) -> T:
        with self.store.unit_of_work() as session:
            return query(session)

    def post(self, event: dict[str, Any], timeout: float = 10) -> int:
        """POST one event to ``/v1/events`` as the intake sender; the HTTP status."""
        return httpx.post(
            f"{self.base_url}/v1/events", json=event, headers=SENDER, timeout=timeout
        ).status_code

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        if self._store is not None:
            self._store.dispose()


@dataclass
class KillingSenders:
    """Senders posting ``event(key)`` to ``site`` from many threads (``send`` is one thread's
    call) that SIGKILL ``victim`` once ``kill_at`` events were answered 202: what was accepted,
    and what got no answer because the kill cut it."""

    site: Site
    victim: Proc
    kill_at: int
    event: Callable[[str], dict[str, Any]]
    accepted: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, key: str) -> None:
        if self.killed.is_set():
            return
        try:
            status = self.site.post(self.event(key))
        except httpx.TransportError:
            with self.lock:
                self.unanswered.add(key)
            return
        assert status == 202, status
        with self.lock:
            self.accepted.add(key)
            if len(self.accepted) >= self.kill_at and not self.killed.is_set():
                self.killed.set()
                self.victim.kill()


def ledger_count(session: Session, *statuses: str) -> int:
    """Ledger rows (tokens) in any of ``statuses``."""
    return int(session.scalar(select(func.count()).where(LedgerRow.status.in_(statuses))) or 0)


def kill_mid_revocation(site: Site, victim: Proc) -> tuple[int, int]:
    """SIGKILL ``victim`` and read the ledger as the kill left it: (tokens settled, tokens in
    ``sending``, the only ones a redo may send twice)."""
    victim.kill()
    return (
        site.read(lambda s: ledger_count(s, "revoked", "already_dead")),
        site.read(lambda s: ledger_count(s, "sending")),
    )


def in_flight_bound(*, threads: int, batch: int, width: int) -> int:
    """The most tokens one killed worker process can leave in ``sending``: the only ones a redo may
    send to TikTok twice (their outcome was not committed; the redo probes them first).

    A batch task claims ``width`` rows at a time and waits once ``2 * width`` are in flight, so it
    holds at most ``3 * width - 1`` claimed rows plus fewer than ``2 * width`` answered but
    uncommitted ones: ``5 * width - 2``, and never more than its batch. At most ``threads`` batch
    tasks run at once in a worker process. The one bound every fault test holds repeats to."""
    return threads * min(batch, 5 * width - 2)


def count_entries(session: Session, chain: str, *kinds: str) -> dict[str, int]:
    """How many timeline entries of each of ``kinds`` the chain (an incident or run) holds."""
    found = dict(
        session.execute(
            select(TimelineEntryRow.kind, func.count())
            .where(TimelineEntryRow.chain == chain, TimelineEntryRow.kind.in_(kinds))
            .group_by(TimelineEntryRow.kind)
        ).all()
    )
    return {kind: int(found.get(kind, 0)) for kind in kinds}


class SlowSmtp:
    """A real SMTP server on 127.0.0.1 that stalls once, then behaves.

    ``stall="rcpt"`` stalls at RCPT TO, before the client has handed the message over: a
    client killed there has sent nothing. ``stall="data"`` stalls after the message is taken
    (the final ``.`` arrived and it is kept, as an MTA queues it) but before the ``250``
    reply: the client never learns it was accepted, the window of RFC 1047. ``stalled`` is set
    when the stall begins, ``stalled_port`` then names the stalled client's local port (which of
    several workers is sending: ``Proc.holds_port``); the stall ends on ``release`` (or after
    ``hold`` seconds).
    """

    def __init__(self, stall: Literal["rcpt", "data"], hold: float = 30.0) -> None:
        self.port = free_port()
        self.stall, self.hold = stall, hold
        self.stalled, self.release = threading.Event(), threading.Event()
        self.stalled_port = 0
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], Message]] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SlowSmtp:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self._controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def _maybe_stall(self, point: str, session: Any) -> None:
        if point != self.stall or self.stalled.is_set():
            return
        self.stalled_port = int(session.peer[1])
        self.stalled.set()
        deadline = time.monotonic() + self.hold
        while not self.release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        await self._maybe_stall("rcpt", session)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        await self._maybe_stall("data", session)
        return "250 Message accepted for delivery"

    def received(self) -> list[tuple[list[str], Message]]:
        with self.lock:
            return list(self.messages)
