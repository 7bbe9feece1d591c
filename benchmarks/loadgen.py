"""Load generators for HTTP benchmarks on loopback: keep-alive HTTP/1.1 over plain sockets.

They run on the same cores as what they measure, so they must cost little: ``http.client`` spent
0.3-0.4 ms of CPU a request, a third of what the API spends on one. Two shapes:

- ``closed``: each of ``threads`` connections sends its next request as soon as the last is
  answered. The rate is then concurrency / latency: the server's capacity at that concurrency.
- ``paced``: request ``n`` is due at ``n / rate`` seconds, whatever the answers do (open loop,
  the way independent senders arrive), and its latency counts from when it was due, so a stalled
  server cannot slow the generator and hide its stall (coordinated omission). One thread drives
  every connection through a selector: 64 threads cost twice the CPU for the same requests.
"""

from __future__ import annotations

import selectors
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Call", "Connection", "closed", "paced"]

Call = tuple[str, str, bytes]
"""Method, path and body of one request."""


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, then read its status and body."""

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._token = token
        self._buffer = b""

    def send(self, method: str, path: str, body: bytes = b"") -> None:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self._token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)

    def answered(self) -> int | None:
        """Read what has arrived; the status once a whole response is in, else None."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk
        return self._complete()

    def call(self, method: str, path: str, body: bytes = b"") -> int:
        """Send and wait for the answer's status."""
        self.send(method, path, body)
        while (status := self.answered()) is None:
            pass
        return status

    def _complete(self) -> int | None:
        if b"\r\n\r\n" not in self._buffer:
            return None
        header, rest = self._buffer.split(b"\r\n\r\n", 1)
        lines = header.split(b"\r\n")
        length = next(int(v) for k, _, v in (line.partition(b":") for line in lines[1:])
                      if k.strip().lower() == b"content-length")  # fmt: skip
        if len(rest) < length:
            return None
        self._buffer = rest[length:]
        return int(lines[0].split()[1])

    def close(self) -> None:
        self.sock.close()


def _figures(latencies: list[float], statuses: dict[int, int], wall: float) -> dict[str, Any]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "statuses": statuses,
        "seconds": round(wall, 2),
    }


def closed(
    port: int, token: str, request: Callable[[int], Call], *, threads: int, seconds: float = 0, total: int = 0
) -> dict[str, Any]:
    """``threads`` connections, each sending its next request when the last is answered, for
    ``seconds`` or ``total`` requests."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))
    lock = threading.Lock()
    started = time.perf_counter()

    def worker() -> None:
        conn = Connection(port, token)
        while True:
            with lock:
                n = next(counter)
            if (total and n >= total) or (seconds and time.perf_counter() - started > seconds):
                break
            t0 = time.perf_counter()
            status = conn.call(*request(n))
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return _figures(latencies, statuses, time.perf_counter() - started)


def paced(
    port: int, token: str, request: Callable[[int], Call], *, rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    """Requests due at ``n / rate`` for ``seconds``, each on an idle one of ``connections``; a
    request due while every connection is busy waits for one, and that wait counts."""
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    selector = selectors.DefaultSelector()
    idle = deque(Connection(port, token) for _ in range(connections))
    for conn in idle:
        selector.register(conn.sock, selectors.EVENT_READ, conn)
    due_of: dict[Connection, float] = {}
    waiting: deque[int] = deque()
    sent = 0
    started = time.perf_counter()
    deadline = started + seconds + 60
    try:
        while len(latencies) < total:
            now = time.perf_counter()
            if now > deadline:
                raise TimeoutError(
                    f"{total - len(latencies)} requests unanswered a minute after the last was due"
                )
            while sent < total and started + sent / rate <= now:
                waiting.append(sent)
                sent += 1
            while waiting and idle:
                n = waiting.popleft()
                conn = idle.popleft()
                due_of[conn] = started + n / rate
                conn.send(*request(n))
            pause = max(0.0, started + sent / rate - time.perf_counter()) if sent < total else 1.0
            for key, _ in selector.select(timeout=pause):
                conn = key.data
                status = conn.answered()
                if status is None:
                    continue
                latencies.append(time.perf_counter() - due_of.pop(conn))
                statuses[status] = statuses.get(status, 0) + 1
                idle.append(conn)
    finally:
        selector.close()
        for conn in [*idle, *due_of]:
            conn.close()
    return _figures(latencies, statuses, time.perf_counter() - started)
