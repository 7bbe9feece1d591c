"""The API, a worker and the scheduler started together on an empty embedded store (what `up`,
`drill` and a newcomer's three terminals do) all come up: they take turns at the migrations
instead of each creating the same tables, and none sees a schema half way and refuses."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator.cli.common import ensure_schema
from orchestrator.store import migrate
from orchestrator.store.db import Store


def _start(store: Store, ready: threading.Barrier) -> None:
    ready.wait()
    ensure_schema(store, upgrade_if_empty=True)


def test_starts_together_on_an_empty_sqlite_store_all_come_up(tmp_path: Path) -> None:
    for attempt in range(5):  # before the lock, about one start in three lost the race
        url = f"sqlite:///{tmp_path / f'attempt{attempt}.db'}"
        stores = [Store(url) for _ in range(4)]  # one engine each, as separate processes have
        ready = threading.Barrier(len(stores))

        with ThreadPoolExecutor(len(stores)) as pool:
            outcomes = [pool.submit(_start, store, ready) for store in stores]
        errors = [repr(outcome.exception()) for outcome in outcomes if outcome.exception()]
        assert not errors, errors
        assert migrate.current_revision(stores[0]) == migrate.head_revision()
        for store in stores:
            store.dispose()
