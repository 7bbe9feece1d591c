"""What a process holds while it runs: settings, the store and the Celery app.

Entry points build one Runtime and ``install`` it; tasks read it with ``current()``.
Nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from celery import Celery
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.config import Settings, load_settings
from orchestrator.store import outbox
from orchestrator.store.db import Store

if TYPE_CHECKING:
    from orchestrator.actions.registry import ActionRegistry
    from orchestrator.playbooks.schemas import Playbook

__all__ = ["Runtime", "current", "install"]


@dataclass
class Runtime:
    """Settings, store, Celery app, the action registry and the loaded playbooks.

    Playbooks load when the runtime is built: an invalid one stops the process
    (PlaybookError naming file, line and column) instead of being skipped.
    """

    settings: Settings
    store: Store = field(init=False)
    celery: Celery = field(init=False)
    registry: ActionRegistry = field(init=False)
    playbooks: dict[str, Playbook] = field(init=False)

    def __post_init__(self) -> None:
        from orchestrator.actions.registry import default_registry
        from orchestrator.playbooks.catalog import load_catalog
        from orchestrator.worker.app import make_celery

        self.store = Store(self.settings.store_url)
        self.celery = make_celery(self.settings)
        self.registry = default_registry()
        self.playbooks = load_catalog(self.settings, self.registry)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work whose new outbox rows are published as soon as it commits.

        Publishing is the fast path only: if the broker is down, the scheduler's relay
        sends the rows later, so a failure here is ignored.
        """
        with self.store.unit_of_work() as session:
            yield session
            created: list[tuple[str, int]] = list(session.info.pop(outbox.NEW_ROWS, []))
        if created:
            from orchestrator.worker.app import publisher

            publish = publisher(self.celery)
            sent: list[int] = []
            for topic, row_id in created:
                try:
                    publish(topic, row_id)
                except Exception:
                    break
                sent.append(row_id)
            if sent:
                with self.store.unit_of_work() as session:
                    outbox.mark_dispatched(session, sent, clock.utcnow())

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
