"""The store's connection pool is sized by the settings, so a fleet fits PostgreSQL's max_connections."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.pool import QueuePool

from orchestrator.config import load_settings
from orchestrator.store.db import Store


def test_each_process_opens_at_most_pool_size_plus_overflow_connections(tmp_path: Path) -> None:
    settings = load_settings(
        overrides={
            "data_dir": tmp_path,
            "database_url": "postgresql://orchestrator@127.0.0.1:5432/orchestrator",
            "database_pool_size": 3,
            "database_max_overflow": 2,
        }
    )
    store = Store.for_settings(settings)  # no connection is opened until one is used
    try:
        pool = store.engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow) == (3, 2)
    finally:
        store.dispose()
