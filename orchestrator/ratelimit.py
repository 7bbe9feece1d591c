"""One request-rate limit shared by every worker: Redis when available, else the store.

Both backends keep the same two numbers for a limiter name: ``tat``, the time the next request
slot opens, and ``pause_until``, set by anyone who saw a 429 or ``Retry-After``. ``acquire(n)``
atomically takes the next slot (moving ``tat`` on by ``n / rate``) and sleeps until it opens, so
requests leave evenly spaced at ``rate`` per second across all processes, never in bursts
(TikTok counts 600 requests per sliding minute; even spacing can never exceed it). After the
sleep it looks at ``pause_until`` once more, so a pause set while it slept still holds it back.
A rate of 0 means no client-side limit (simulators, benchmarks). ``penalise`` pauses every
process: each notices a pause set elsewhere within 0.1 s (it reads ``pause_until`` at most that
often), and the process that set it at once.

``admit(burst)`` is the same ``tat`` seen from the other side, for limits on what comes *in*
(the intake's opt-in per-source limit): it never sleeps, it answers at once whether one more
request fits, letting up to ``burst`` through back to back (the cell rate algorithm, GCRA).
Every API process shares the answer, so a limit holds however many processes serve.

The Redis limiter runs on Redis's own clock (``TIME``), so workers on several machines agree
without synchronised clocks. The store limiter uses the local wall clock under the store's
write lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``SELECT ... FOR UPDATE``). A locked
transaction costs far more than a Redis script, and one per request could not keep up with
200 requests a second on a busy PostgreSQL, so a store limiter takes its slots in windows of
at least ``_WINDOW_SECONDS`` and hands them out in-process: windows of different processes never
overlap, so the spacing across processes stays even. A slot no thread was free to take when it
came due is handed to the next caller, up to one window late (a burst of at most one window's
slots); older unused slots are lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from sqlalchemy import Float, String, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestrator import clock
from orchestrator.config import Settings
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store.db import Base, Store

__all__ = [
    "REVOKE_LIMITER",
    "RateLimitRow",
    "RateLimiter",
    "RedisRateLimiter",
    "StoreRateLimiter",
    "app_limiter",
    "limiter_for",
]

REVOKE_LIMITER = "tiktok_revoke"
_REDIS_PREFIX = "orchestrator:ratelimit:"
_MAX_WAIT = 3600.0
_PAUSE_RECHECK = 0.1
_WINDOW_SECONDS = 0.05

# KEYS[1] = hash {tat, pause_until}; ARGV[1] = seconds per request * n ("0" = unlimited).
# Returns the seconds the caller must wait, as a string (Lua numbers lose precision as replies).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause_until') or '0')
local interval = tonumber(ARGV[1])
local slot = math.max(now, pause)
if interval > 0 then
  slot = math.max(slot, tat)
  redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', slot + interval))
  redis.call('EXPIRE', KEYS[1], 86400)
end
return string.format('%.6f', slot - now)
"""
# ARGV[1] = seconds per request, ARGV[2] = tolerance (seconds the next slot may lie ahead).
# Returns "0" and takes the slot when it fits, else the seconds until one does.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local slot = math.max(now, tonumber(redis.call('HGET', KEYS[1], 'tat') or '0'))
local late = slot - now - tonumber(ARGV[2])
if late > 0 then
  return string.format('%.6f', late)
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', slot + tonumber(ARGV[1])))
redis.call('EXPIRE', KEYS[1], 86400)
return '0'
"""
# ARGV[1] = seconds to pause ("0" = just read the remaining pause). Returns the remaining pause.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause_until') or '0')
local wanted = now + tonumber(ARGV[1])
if tonumber(ARGV[1]) > 0 and wanted > pause then
  pause = wanted
  redis.call('HSET', KEYS[1], 'pause_until', string.format('%.6f', pause))
  redis.call('EXPIRE', KEYS[1], 86400)
end
return string.format('%.6f', math.max(pause - now, 0))
"""


class RateLimiter(Protocol):
    """A limit shared by every process that uses the same name."""

    rate: float

    def acquire(self, n: int = 1) -> float:
        """Block until ``n`` requests may go; return the seconds waited."""
        ...

    def penalise(self, seconds: float) -> None:
        """Pause everyone for ``seconds`` from now (a 429, or a ``Retry-After``)."""
        ...

    def admit(self, burst: int) -> float:
        """Never blocks: 0 when one more request fits (up to ``burst`` back to back), else the
        seconds until one will; the caller refuses the request then (429 with ``Retry-After``)."""
        ...


class _Limiter:
    """The acquire loop both backends share; subclasses take slots and read pauses."""

    def __init__(self, *, rate: float, sleep: Callable[[float], None]) -> None:
        if rate < 0:
            raise ValueError("rate must be 0 (unlimited) or more requests per second")
        self.rate = rate
        self._sleep = sleep
        self._pause_read_at = -_PAUSE_RECHECK  # monotonic time of the last read of the pause
        self._paused_until = 0.0  # monotonic end of the pause that read found

    def _take(self, interval: float) -> float:
        raise NotImplementedError

    def _pause(self, seconds: float) -> float:
        raise NotImplementedError

    def _admit(self, interval: float, tolerance: float) -> float:
        raise NotImplementedError

    def admit(self, burst: int) -> float:
        if self.rate <= 0:
            return 0.0
        if burst < 1:
            raise ValueError("burst must be at least 1")
        interval = 1 / self.rate
        return self._admit(interval, (burst - 1) * interval)

    def acquire(self, n: int = 1) -> float:
        if n < 1:
            raise ValueError("n must be at least 1")
        interval = n / self.rate if self.rate > 0 else 0.0
        waited = 0.0
        while True:
            # Unlimited, there is no slot to take: only a pause holds the request back.
            wait = min(self._take(interval), _MAX_WAIT) if interval > 0 else 0.0
            if wait > 0:
                self._sleep(wait)
                waited += wait
            # A pause set while we slept holds this request back too.
            remaining = self._pause_left() if wait > 0 or interval == 0 else 0.0
            if remaining <= 0:
                return waited
            self._sleep(min(remaining, _MAX_WAIT))
            waited += remaining

    def _pause_left(self) -> float:
        """Seconds of pause left, reading the shared state at most every ``_PAUSE_RECHECK`` s."""
        now = clock.monotonic()
        if now - self._pause_read_at >= _PAUSE_RECHECK:
            self._note_pause(self._pause(0.0))
        return max(self._paused_until - clock.monotonic(), 0.0)

    def _note_pause(self, remaining: float) -> None:
        self._pause_read_at = clock.monotonic()
        self._paused_until = self._pause_read_at + remaining

    def penalise(self, seconds: float) -> None:
        if seconds > 0:
            self._note_pause(self._pause(seconds))


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _redis_client(url: str) -> Any:
    """One pooled client per URL per process, however many limiters are built."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            _clients[url] = client
        return client


class RedisRateLimiter(_Limiter):
    """The limit in one Redis hash, changed only by atomic Lua scripts."""

    def __init__(
        self,
        url: str,
        *,
        rate: float,
        name: str = REVOKE_LIMITER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(rate=rate, sleep=sleep)
        self._redis = _redis_client(url)
        self.key = _REDIS_PREFIX + name
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._admit_script = self._redis.register_script(_ADMIT)

    def _take(self, interval: float) -> float:
        return float(self._acquire_script(keys=[self.key], args=[repr(interval)]))

    def _pause(self, seconds: float) -> float:
        return float(self._pause_script(keys=[self.key], args=[repr(float(seconds))]))

    def _admit(self, interval: float, tolerance: float) -> float:
        return float(self._admit_script(keys=[self.key], args=[repr(interval), repr(tolerance)]))


class RateLimitRow(Base):
    """A store-backed limiter's state: next free slot and pause, as Unix seconds."""

    __tablename__ = "rate_limits"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, default=0.0)
    pause_until: Mapped[float] = mapped_column(Float, default=0.0)


class StoreRateLimiter(_Limiter):
    """The limit in a ``rate_limits`` row, changed under the store's write lock (embedded default)."""

    def __init__(
        self,
        store: Store,
        *,
        rate: float,
        name: str = REVOKE_LIMITER,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = lambda: clock.utcnow().timestamp(),
    ) -> None:
        super().__init__(rate=rate, sleep=sleep)
        self._store, self.name, self._now = store, name, now
        self._lock = threading.Lock()  # one transaction at a time per process: spares SQLite retries
        self._window_next = self._window_end = 0.0  # this process's slots: [next, end) in Unix seconds

    def _row(self, session: Session) -> RateLimitRow:
        row = session.scalars(
            select(RateLimitRow).where(RateLimitRow.name == self.name).with_for_update()
        ).first()
        if row is None:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(
                    postgresql_insert(RateLimitRow).values(name=self.name).on_conflict_do_nothing()
                )
            else:
                session.execute(sqlite_insert(RateLimitRow).values(name=self.name).on_conflict_do_nothing())
            row = session.scalars(
                select(RateLimitRow).where(RateLimitRow.name == self.name).with_for_update()
            ).one()
        return row

    def _take(self, interval: float) -> float:
        with self._lock:
            now = self._now()
            # A slot missed because every thread was busy is still handed out, up to one window
            # late: dropping it lost a window's tail each time (0.86 of the limit across two
            # workers). The burst this allows is one window's slots, never more.
            start = max(self._window_next, now - _WINDOW_SECONDS)
            # Half a slot of slack: at Unix-time magnitudes (1.8e9 s) each sum of intervals
            # rounds by up to 2.4e-7 s, and a window's last slot was being dropped (1 in 10).
            if start + interval <= self._window_end + interval / 2:
                self._window_next = start + interval
                return max(start - now, 0.0)
            span = max(interval, _WINDOW_SECONDS)
            with self._store.unit_of_work() as session:
                row = self._row(session)
                now = self._now()
                slot = max(now, row.pause_until or 0.0, row.tat or 0.0)
                row.tat = slot + span
            self._window_next, self._window_end = slot + interval, slot + span
            return slot - now

    def _pause(self, seconds: float) -> float:
        with self._lock, self._store.unit_of_work() as session:
            row = self._row(session)
            now = self._now()
            if seconds > 0 and now + seconds > (row.pause_until or 0.0):
                row.pause_until = now + seconds
            return max((row.pause_until or 0.0) - now, 0.0)

    def _admit(self, interval: float, tolerance: float) -> float:
        with self._lock, self._store.unit_of_work() as session:
            row = self._row(session)
            now = self._now()
            slot = max(now, row.tat or 0.0)
            late = slot - now - tolerance
            if late > 0:
                return late
            row.tat = slot + interval
            return 0.0


def app_limiter(name: str, app: str) -> str:
    """The limiter ``name`` of TikTok app ``app`` (TikTok counts limits per client key): ``name``
    itself for the app ``default``, as single-app releases called it, else ``name:app``."""
    return name if app == DEFAULT_APP else f"{name}:{app}"


def limiter_for(
    settings: Settings, store: Store, *, name: str = REVOKE_LIMITER, rate: float | None = None
) -> RateLimiter:
    """Redis when the broker is Redis, else the store; at ``rate`` per second (default
    ``tiktok_revoke_rate``)."""
    rate = settings.tiktok_revoke_rate if rate is None else rate
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return RedisRateLimiter(settings.broker_url, rate=rate, name=name)
    return StoreRateLimiter(store, rate=rate, name=name)
