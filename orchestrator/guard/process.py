"""The process-wide guard: built from the environment on first use, or installed by ``configure``."""

from __future__ import annotations

import threading
from typing import Any

from orchestrator.guard.checker import Guard

__all__ = ["check", "configure", "current", "engaged"]

_default: Guard | None = None
_default_lock = threading.Lock()


def configure(guard: Guard | None = None, **options: Any) -> Guard:
    """Install the process-wide guard: the one given, or one from the environment plus ``options``."""
    global _default
    chosen = guard
    if chosen is None:
        chosen = Guard.from_env()
        for key, value in options.items():
            setattr(chosen, key, value)
    with _default_lock:
        _default = chosen
    return chosen


def current() -> Guard:
    """The process-wide guard (built from ``ORCH_GUARD_*`` the first time it is needed)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Guard.from_env()
    return _default


def check() -> None:
    """Raise ``Disconnected`` while the switch is engaged (the process-wide guard)."""
    current().check()


def engaged() -> bool:
    """Whether TikTok calls are forbidden right now (the process-wide guard)."""
    return current().engaged()
