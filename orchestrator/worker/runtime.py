"""What a process holds while it runs: settings, the store and the Celery app.

Entry points build one Runtime and ``install`` it; tasks read it with ``current()``.
Nothing is built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import Celery

from orchestrator.config import Settings, load_settings
from orchestrator.store.db import Store

__all__ = ["Runtime", "current", "install"]


@dataclass
class Runtime:
    settings: Settings
    store: Store = field(init=False)
    celery: Celery = field(init=False)

    def __post_init__(self) -> None:
        from orchestrator.worker.app import make_celery

        self.store = Store(self.settings.store_url)
        self.celery = make_celery(self.settings)

    def close(self) -> None:
        self.store.dispose()


_current: Runtime | None = None


def install(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    """The installed runtime, built from the environment on first use in a bare worker."""
    global _current
    if _current is None:
        _current = Runtime(load_settings())
    return _current
