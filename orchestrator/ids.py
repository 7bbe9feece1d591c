"""Random ids (events, incidents, runs, broker messages) without a GIL hand-off per id.

``uuid.uuid4()`` reads 16 bytes with ``os.urandom``, a system call CPython makes with the GIL
released. In a process whose other thread is busy (the intake's writer thread, a worker's task
threads) taking the GIL back waits for that thread, up to the interpreter's switch interval: the
intake's event loop paid that for every event it accepted, and beside a busy thread that wait,
not the read, is what an id cost. Ids here are the same kernel randomness, read 4 KiB at a time;
a forked child starts with a pool of its own.
"""

from __future__ import annotations

import os
import threading

__all__ = ["random_hex"]

_POOL_BYTES = 4096
_lock = threading.Lock()
_pool = b""
_at = 0


def random_hex(chars: int = 32) -> str:
    """``chars`` (at most 32) random hex digits, as unguessable as ``uuid.uuid4().hex``."""
    global _pool, _at
    with _lock:
        if _at + 16 > len(_pool):
            _pool, _at = os.urandom(_POOL_BYTES), 0
        chunk = _pool[_at : _at + 16]
        _at += 16
    return chunk.hex()[:chars]


def _new_pool_after_fork() -> None:
    global _pool, _at
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_new_pool_after_fork)
