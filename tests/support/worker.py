"""Celery's test worker in threads of the test process, its tasks ended before the store closes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker

from orchestrator.worker.runtime import Runtime

__all__ = ["in_process_worker"]


@contextmanager
def in_process_worker(runtime: Runtime, *, concurrency: int = 4, loglevel: str = "WARNING") -> Iterator[None]:
    """``start_worker`` with a thread pool, and on the way out the tasks it left running ended.

    Celery's test worker returns while its pool still runs tasks (it terminates the pool, and a
    thread pool's terminate leaves them running): a playbook step still going when the test
    ended then used the store after the test closed it, and the PostgreSQL connection it took was
    never closed; the garbage collector's warning failed whichever test ran next. The runtime is
    told to drain (tasks hand back what they hold, as in a worker's warm shutdown) and the
    pool's threads are waited for."""
    worker = None
    try:
        options = {"concurrency": concurrency, "perform_ping_check": False, "loglevel": loglevel}
        with start_worker(runtime.celery, pool="threads", **options) as worker:
            yield
    finally:
        runtime.draining.set()
        if worker is not None:
            ended = threading.Thread(target=worker.pool.executor.shutdown, kwargs={"cancel_futures": True})
            ended.start()
            ended.join(120)
            if ended.is_alive():
                raise RuntimeError("the in-process worker's tasks did not end within 120 s of the test")
