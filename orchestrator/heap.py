"""Keep the start-up heap out of the garbage collector's way in long-running processes.

Once FastAPI, SQLAlchemy, pydantic and Celery are imported and set up, a process holds a few
hundred thousand objects that live as long as it does. CPython's full (generation 2) collection
walks every one of them, holding the GIL: under a sustained load on the intake, such a pass
(seen with a ``gc.callbacks`` hook) was what set the intake's p99 latency. ``gc.freeze()`` moves what exists
after start-up into a permanent generation the collector never walks, so later collections see
only what the process made since. Objects frozen are still freed by reference counting; only
cycles among them stay.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> None:
    """Collect once, then freeze every object left; call when start-up is over."""
    gc.collect()
    gc.freeze()
