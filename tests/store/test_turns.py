"""SQLite's write lock has no queue: the intake, whose senders wait, goes before other writers."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.store.db import Store, intake_waiting
from orchestrator.store.turns import WriteTurns
from tests.support.services import postgres_database


def test_a_writer_waits_while_the_intake_waits_for_its_turn(tmp_path: Path) -> None:
    database = str(tmp_path / "orchestrator.sqlite")
    intake, worker = WriteTurns(database), WriteTurns(database)  # as two processes would open it
    waiting, lock_free = threading.Event(), threading.Event()
    began = threading.Event()

    def intake_waits_for_sqlite() -> None:
        with intake.ahead(), intake.turn():
            waiting.set()
            lock_free.wait(5)

    def worker_begins() -> None:
        with worker.turn():
            began.set()

    ahead = threading.Thread(target=intake_waits_for_sqlite)
    ahead.start()
    assert waiting.wait(5)
    behind = threading.Thread(target=worker_begins)
    behind.start()
    assert not began.wait(0.3)  # holds off while the intake waits
    lock_free.set()
    assert began.wait(5)  # and begins once the intake has begun
    ahead.join()
    behind.join()
    intake.close()
    worker.close()


def test_a_transaction_in_progress_learns_that_the_intake_is_waiting(tmp_path: Path) -> None:
    """A worker correlating a long message asks between events, and commits early when asked."""
    store = Store(f"sqlite:///{tmp_path / 'orchestrator.sqlite'}")
    intake = WriteTurns(str(tmp_path / "orchestrator.sqlite"))
    waiting, done = threading.Event(), threading.Event()

    def intake_waits() -> None:
        with intake.ahead(), intake.turn():
            waiting.set()
            done.wait(5)

    with store.unit_of_work() as session:
        assert not intake_waiting(session)
        thread = threading.Thread(target=intake_waits)
        thread.start()
        assert waiting.wait(5)
        assert intake_waiting(session)
        done.set()
        thread.join()
        assert not intake_waiting(session)
    intake.close()
    store.dispose()


def test_nothing_waits_for_a_postgresql_transaction_the_way_sqlite_makes_the_intake_wait() -> None:
    with postgres_database() as url:
        store = Store(url)
        with store.unit_of_work() as session:
            assert not intake_waiting(session)
        store.dispose()
