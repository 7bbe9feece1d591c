"""Services that go away and come back, for fault tests: a TCP proxy that cuts, a burst of events.

Tests never restart the shared PostgreSQL, Redis or RabbitMQ on 127.0.0.1 (other tests and other
people use them at the same time). A PostgreSQL or RabbitMQ outage is a :class:`TcpProxy` in
front of the real service that resets every connection and refuses new ones for a while, which
is all a client can see of a restart; what a restart loses besides (a broker's messages, a
database's sessions) the test takes away behind the cut (tests/support/brokers.py: a private
Redis, a private RabbitMQ vhost).
:class:`Burst` is a sender that posts through an outage and checks each event was correlated once.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select

from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.store.db import Store
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from tests.support.processes import wait_for
from tests.support.runtime import INTAKE_TOKEN

__all__ = ["Burst", "TcpProxy", "owed_events"]


_LINGER_RESET = struct.pack("ii", 1, 0)  # close() then sends RST, like a crashed peer's kernel
_HIGH_WATER = 4 * 1024 * 1024  # stop reading a side while this much waits for the other


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


class _End:
    """One socket of a forwarded connection and the bytes waiting to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.peer: _End = self
        self.out = bytearray()
        self.eof = False  # this side closed its writing half: nothing more to read
        self.closed = False
        self.events = 0


class TcpProxy:
    """A TCP forwarder on a free loopback port in front of a real service.

    ``cut()`` resets every live connection (RST, on both sides, as a crashed server's kernel
    would: the service rolls back open transactions, the client sees ECONNRESET) and resets
    every new one at once until ``restore()``. One thread does all the forwarding, so a cut
    happens between two reads, never in the middle of a buffer, and ``cut()`` returns only
    once every connection is gone.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._ends: set[_End] = set()
        self._refusing = False
        self._cut_done: threading.Event | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"tcp-proxy-{self.port}")
        self.connections = 0  # forwarded connections opened
        self.reset_by_cut = 0  # live connections a cut reset
        self.refused = 0  # connections reset on arrival while cut

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (credentials and path kept)."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    def __enter__(self) -> TcpProxy:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping = True
        self._wake_w.send(b"x")
        self._thread.join(10)
        for end in list(self._ends):
            _reset(end.sock)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    def cut(self) -> None:
        """Reset every live connection and refuse new ones; returns once they are all gone."""
        done = threading.Event()
        self._refusing = True
        self._cut_done = done
        self._wake_w.send(b"x")
        if not done.wait(10):
            raise RuntimeError("the proxy did not cut its connections")

    def restore(self) -> None:
        """Accept and forward connections again (the service is back)."""
        self._refusing = False

    @property
    def live(self) -> int:
        return len(self._ends) // 2

    def _loop(self) -> None:
        while not self._stopping:
            for key, mask in self._selector.select(0.5):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj is self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                elif not key.data.closed:
                    self._pump(key.data, mask)
            done, self._cut_done = self._cut_done, None
            if done is not None:
                self.reset_by_cut += self.live
                for end in list(self._ends):
                    self._close(end, reset=True)
                done.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            if self._refusing:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=3)
            except OSError:
                _reset(client)
                continue
            self.connections += 1
            near, far = _End(client), _End(upstream)
            near.peer, far.peer = far, near
            for end in (near, far):
                end.sock.setblocking(False)
                end.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._ends.add(end)
                self._interest(end)

    def _pump(self, end: _End, mask: int) -> None:
        peer = end.peer
        if mask & selectors.EVENT_WRITE and end.out:
            try:
                sent = end.sock.send(end.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(end, reset=True)
                return
            del end.out[:sent]
            if not end.out and peer.eof:
                self._close(end, reset=False)  # the other side hung up and all it said is delivered
                return
        if mask & selectors.EVENT_READ:
            try:
                chunk: bytes | None = end.sock.recv(256 * 1024)
            except (BlockingIOError, InterruptedError):
                chunk = None
            except OSError:
                self._close(end, reset=True)
                return
            if chunk == b"":
                end.eof = True
                if not peer.out:
                    self._close(end, reset=False)
                    return
            elif chunk:
                peer.out += chunk
        self._interest(end)
        self._interest(peer)

    def _interest(self, end: _End) -> None:
        wanted = 0
        if not end.eof and len(end.peer.out) < _HIGH_WATER:
            wanted |= selectors.EVENT_READ
        if end.out:
            wanted |= selectors.EVENT_WRITE
        if wanted == end.events:
            return
        if end.events == 0:
            self._selector.register(end.sock, wanted, end)
        elif wanted == 0:
            self._selector.unregister(end.sock)
        else:
            self._selector.modify(end.sock, wanted, end)
        end.events = wanted

    def _close(self, end: _End, *, reset: bool) -> None:
        """Close a connection on both sides (RST when ``reset``, else an orderly close)."""
        for side in (end, end.peer):
            if side.closed:
                continue
            side.closed = True
            self._ends.discard(side)
            if side.events:
                self._selector.unregister(side.sock)
                side.events = 0
            if reset:
                _reset(side.sock)
            else:
                side.sock.close()


SENDER = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


def owed_events(store: Store) -> int:
    """Accepted events not yet correlated (their outbox rows are not done)."""
    owed = select(func.count()).select_from(OutboxRow)
    owed = owed.where(OutboxRow.topic == EVENT_TOPIC, OutboxRow.done_at.is_(None))
    with store.unit_of_work() as session:
        return int(session.scalar(owed) or 0)


@dataclass
class Burst:
    """Senders posting ``count`` events (one dedup key each, eight at a time, faster than a worker
    correlates them) that retry a 503 as monitoring tools do: a third, then (once ``cut`` is set)
    a third during the outage, the rest once ``restored``."""

    url: str
    prefix: str
    count: int
    statuses: dict[str, int] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    first_third: threading.Event = field(default_factory=threading.Event)
    cut: threading.Event = field(default_factory=threading.Event)
    restored: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.keys = [f"{self.prefix}-{n}" for n in range(self.count)]
        self.thread = threading.Thread(target=self._send, name=f"burst-{self.prefix}")
        self.thread.start()

    def _send(self) -> None:
        third = self.count // 3
        phases = [(self.keys[:third], None), (self.keys[third : 2 * third], self.cut)]
        phases.append((self.keys[2 * third :], self.restored))
        with httpx.Client(base_url=self.url, timeout=30) as client, ThreadPoolExecutor(8) as senders:
            for keys, after in phases:
                if after is not None:
                    self.first_third.set()
                    after.wait(120)
                list(senders.map(lambda key: self._post(client, key), keys))  # 8 senders at once

    def _post(self, client: httpx.Client, key: str) -> None:
        event = {"title": f"Burst {key}", "kind": "host.anomaly", "severity": "low", "dedup_key": key}
        while True:
            try:
                status = client.post("/v1/events", json=event, headers=SENDER).status_code
            except httpx.HTTPError:
                status = 0
            if status != 503:
                break
            self.retries[key] += 1
            time.sleep(0.25)
        self.statuses[key] = status

    def finish(self) -> None:
        self.cut.set()
        self.restored.set()
        self.thread.join(120)
        assert not self.thread.is_alive()

    def check(self, store: Store) -> int:
        """Every event answered 202 (after retries of a 503) and correlated exactly once; returns
        the events the store holds (more than sent only if a 503'd commit went through)."""
        self.finish()
        refused = {key: status for key, status in self.statuses.items() if status != 202}
        assert len(self.statuses) == self.count and not refused, refused
        wait_for(lambda: owed_events(store) == 0, timeout=120, what="every event correlated")
        mine = f"{self.prefix}-%"  # the burst's own: other work may share the store
        with store.unit_of_work() as session:
            incidents = session.execute(
                select(IncidentRow.dedup_key, IncidentRow.event_count).where(IncidentRow.dedup_key.like(mine))
            ).all()
            events = session.execute(
                select(EventRow.id, EventRow.dedup_key, EventRow.incident_id).where(
                    EventRow.dedup_key.like(mine)
                )
            ).all()
            entries = Counter(
                data["event_id"]
                for data in session.scalars(
                    select(TimelineEntryRow.data).where(TimelineEntryRow.kind == kinds.EVENT_RECEIVED)
                )
            )
        assert sorted(key for key, _ in incidents) == sorted(self.keys)  # one incident per sent key
        rows_per_key = Counter(key for _, key, _ in events)
        # A 503 whose commit in fact went through makes the sender's retry a second event of
        # the same key (at-least-once delivery); it is correlated into the same incident.
        assert all(rows_per_key[key] - 1 <= self.retries[key] for key in self.keys)
        assert dict(incidents) == dict(rows_per_key)  # the incident counted each event once
        assert all(incident_id is not None for _, _, incident_id in events)
        assert {event_id: entries[event_id] for event_id, _, _ in events} == {e[0]: 1 for e in events}
        return len(events)
