"""What a process holds while it runs: settings, the store and the Celery app.

Each process's entry point builds one Runtime (its composition root) and hands it down. It
registers the Celery tasks bound to itself (``tasks.register``), so no task reads a
process-global; there is none to read. Nothing is built at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import Celery
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.actions.registry import default_registry
from orchestrator.config import Settings
from orchestrator.evidence import keys
from orchestrator.evidence.keys import EvidenceKey
from orchestrator.inventory.factory import inventory_for
from orchestrator.logging import get_logger
from orchestrator.playbooks.action import ActionRegistry
from orchestrator.playbooks.catalog import load_catalog
from orchestrator.playbooks.schemas import Playbook
from orchestrator.routing import FOLLOW_UP_TOPICS
from orchestrator.store import outbox
from orchestrator.store.db import Store
from orchestrator.store.private import private_folder
from orchestrator.tiktok.provider import provider_for
from orchestrator.tokens.inventory import TokenInventory
from orchestrator.tokens.provider import RevocationProvider
from orchestrator.worker import follow_ups, tasks
from orchestrator.worker.app import make_celery, publisher

__all__ = ["Runtime"]

_log = get_logger(__name__)
T = TypeVar("T")


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
    draining: threading.Event = field(init=False, default_factory=threading.Event)
    """Set when the worker was asked to stop: long work hands back what it holds instead of
    finishing (a revocation batch stops claiming tokens), so another worker goes on at once."""
    _shared: dict[str, Any] = field(init=False, default_factory=dict)
    _shared_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        private_folder(self.settings.data_dir)
        self.store = Store.for_settings(self.settings)
        self.celery = make_celery(self.settings)
        tasks.register(self.celery, self)
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
            self._hand_on(created)

    def _hand_on(self, created: list[tuple[str, int]]) -> None:
        """Publish new rows (the fast path; the relay covers a failure), or do follow-ups here."""
        runner = follow_ups.runner()
        here = [(t, i) for t, i in created if runner is not None and t in FOLLOW_UP_TOPICS]
        publish = publisher(self.celery)
        sent: list[int] = [row_id for _, row_id in here]
        for topic, row_id in created:
            if (topic, row_id) in here:
                continue
            try:
                publish(topic, row_id)
            except Exception:
                break
            sent.append(row_id)
        if sent:
            with self.store.unit_of_work() as session:
                outbox.mark_dispatched(session, sent, clock.utcnow())
        for topic, row_id in here:
            assert runner is not None
            try:
                runner(topic, row_id)
            except Exception as exc:  # the broker takes it from here; the relay if that fails too
                _log.warning("follow_up_failed", topic=topic, outbox_id=row_id, error=type(exc).__name__)
                with suppress(Exception):
                    publish(topic, row_id)

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """One ``build()`` per process and ``key``: a connection pool or an HTTP client that every
        task of this process reuses (building one per task costs new connections each time);
        ``close`` closes them."""
        with self._shared_lock:
            if key not in self._shared:
                self._shared[key] = build()
            value: T = self._shared[key]
            return value

    def evidence_key(self) -> EvidenceKey:
        """The key that signs checkpoints and evidence bundles (made in data_dir on first use)."""
        return self.shared("evidence.key", lambda: keys.load_or_create(self.settings))

    def revocation_provider(self, app: str) -> RevocationProvider:
        """The app's TikTok client (OAuth v2 or the Marketing API), shared by every batch of this
        process: one connection pool per app, closed by ``close``."""
        found = self.settings.app(app)
        return self.shared(f"tiktok.provider:{found.name}", lambda: provider_for(found))

    def token_inventory(self, app: str) -> TokenInventory:
        """The app's token inventory, opened once in this process and closed by ``close``."""
        found = self.settings.app(app)
        return self.shared(f"token.inventory:{found.name}", lambda: inventory_for(found, self.settings))

    def close(self) -> None:
        with self._shared_lock:
            resources, self._shared = list(self._shared.values()), {}
        for resource in resources:
            close = getattr(resource, "close", None)
            if callable(close):
                close()
        self.store.dispose()
