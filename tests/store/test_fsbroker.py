"""The embedded broker under a storm's backlog: every message delivered once, oldest first, to
consumers in several threads, and a message file is never seen half-written."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from queue import Empty

from kombu.connection import Connection

import orchestrator.worker.fsbroker  # noqa: F401  (registers the orchfs:// transport)

# kombu keeps declared exchanges per process: names of their own, apart from Celery's queues
EVENTS, OTHER = f"backlog-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"


def _connection(folder: Path) -> Connection:
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return Connection(
        "orchfs://",
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def test_a_backlog_is_delivered_once_each_oldest_first_across_consumers(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        events, other = conn.SimpleQueue(EVENTS), conn.SimpleQueue(OTHER)
        for n in range(3000):
            events.put({"n": n})
            if n % 10 == 0:
                other.put({"other": n})
        events.close()
        other.close()

    got: list[list[int]] = [[], [], []]

    def consume(mine: list[int]) -> None:
        with _connection(tmp_path) as conn:
            queue = conn.SimpleQueue(EVENTS)
            while True:
                try:
                    message = queue.get(block=False)
                except Empty:
                    break
                mine.append(message.payload["n"])
                message.ack()
            queue.close()

    threads = [threading.Thread(target=consume, args=(mine,)) for mine in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    delivered = sorted(n for mine in got for n in mine)
    assert delivered == list(range(3000))  # each once: a file taken by another consumer is skipped
    assert all(mine == sorted(mine) for mine in got)  # each consumer sees them oldest first
    left = [p.name for p in (tmp_path / "queue").iterdir() if not p.name.startswith(".")]
    assert len(left) == 300 and all(name.endswith(f".{OTHER}.msg") for name in left)
    assert list((tmp_path / "processed").iterdir()) == []
