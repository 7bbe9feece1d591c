"""SQLite's write lock has no queue: the intake, whose senders wait, goes before other writers."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.store.turns import WriteTurns


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
