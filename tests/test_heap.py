"""After start-up the collector no longer walks the start-up heap (orchestrator/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import orchestrator.api.app  # noqa: F401  (a start-up sized heap: FastAPI, SQLAlchemy, pydantic)
from orchestrator.heap import freeze_startup_heap


@pytest.fixture
def frozen() -> Iterator[None]:
    freeze_startup_heap()
    yield
    gc.unfreeze()


def test_a_full_collection_walks_only_what_was_made_after_start_up(frozen: None) -> None:
    assert gc.get_freeze_count() > 100_000  # the imported frameworks' objects, out of the walk
    assert len(gc.get_objects()) < 10_000
    made_after = [[n] for n in range(1000)]
    assert any(obj is made_after for obj in gc.get_objects())  # new objects are still collected
