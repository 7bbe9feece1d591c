"""Follow-ups a worker task does in its own thread instead of through the broker.

Inside a task, a transaction may owe rows of ``routing.FOLLOW_UP_TOPICS`` (the engine pass after
a step's outcome); going through the broker would cost a round trip and a queue's wait for work
this thread can do at once. The task says who does them (``running_follow_ups``); the runtime's
``transaction`` asks ``runner()`` after its commit. The runner is the thread's own, like the log
context, so tasks of other threads are untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["FollowUp", "runner", "running_follow_ups"]

FollowUp = Callable[[str, int], None]
_local = threading.local()


@contextmanager
def running_follow_ups(runner: FollowUp) -> Iterator[None]:
    """Inside a worker task: rows of ``FOLLOW_UP_TOPICS`` that a transaction of this thread
    owes are done by ``runner`` in this thread once it commits, instead of through the broker.

    The rows are marked dispatched first, so if this worker dies the relay sends them later.
    """
    previous = getattr(_local, "runner", None)
    _local.runner = runner
    try:
        yield
    finally:
        _local.runner = previous


def runner() -> FollowUp | None:
    """This thread's follow-up runner, if a task set one."""
    found: FollowUp | None = getattr(_local, "runner", None)
    return found
