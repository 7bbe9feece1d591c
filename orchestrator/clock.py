"""The one place the orchestrator reads the time: aware UTC, swappable in tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "monotonic", "utcnow"]


class Clock(Protocol):
    """Anything that can tell the current aware UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now = self._now + timedelta(seconds=seconds)


_clock: Clock = SystemClock()


def utcnow() -> datetime:
    """Current aware UTC time from the process clock."""
    return _clock.now()


def monotonic() -> float:
    """Seconds from an arbitrary origin, for durations and rate limits."""
    return time.monotonic()
