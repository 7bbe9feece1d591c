"""Log lines written by a thread of their own, so the thread that logs never makes the write.

A write to a file or a pipe is a system call, and CPython lets go of the GIL around it. Taking
the GIL back waits for whichever thread holds it, up to the 5 ms switch interval when that thread
is busy. The intake's event loop logs a line per accepted request while its writer thread commits,
so each line could cost a request up to 5 ms (the same hand-off ``ids.random_hex`` removed from
``uuid4``). The caller still formats and redacts the line; only the write moves, and the lines
queued by the time the thread wakes go out in one write.

A stream without a file descriptor (an ``io.StringIO``, as tests capture logs) makes no system
call and is written in place, and so is a terminal, where a person reads the lines beside the
command's own output. Lines still queued are written when the interpreter exits; a
process killed outright loses at most the lines of the last few milliseconds.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import weakref
from typing import Any, TextIO

__all__ = ["BackgroundStream", "in_background"]

_DRAIN_SECONDS = 5.0
"""How long ``drain`` waits for the writer thread at most (a blocked pipe must not hang exit)."""

_streams: weakref.WeakSet[BackgroundStream] = weakref.WeakSet()


class BackgroundStream:
    """A text stream whose ``write`` queues the text and whose own thread writes it to ``target``."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._queue: queue.SimpleQueue[str | threading.Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        _streams.add(self)

    def write(self, text: str) -> int:
        if self._thread is None:
            self._start()
        self._queue.put(text)
        return len(text)

    def flush(self) -> None:
        """Nothing to wait for: ``logging.StreamHandler`` flushes after every line, and the
        writer thread flushes after every write. ``drain`` waits."""

    def drain(self, timeout: float = _DRAIN_SECONDS) -> None:
        """Return once every line queued before the call is written (or after ``timeout``)."""
        if self._thread is None:
            return
        written = threading.Event()
        self._queue.put(written)
        written.wait(timeout)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            text = "".join(item for item in batch if isinstance(item, str))
            try:
                self.target.write(text)
                self.target.flush()
            except Exception:  # nowhere left to report a failing log stream
                pass
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()

    def _forked(self) -> None:
        """In a forked child the thread is gone and the queue may hold the parent's lines: start over."""
        self._queue = queue.SimpleQueue()
        self._thread = None
        self._start_lock = threading.Lock()


def in_background(stream: Any) -> Any:
    """``stream`` wrapped in a ``BackgroundStream`` when its writes are system calls, else itself.
    A terminal is written in place too: a person reads it, and the lines keep their order with
    what the command prints itself."""
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream
    return stream if stream.isatty() else BackgroundStream(stream)


def _drain_all() -> None:
    for stream in list(_streams):
        stream.drain()


def _after_fork() -> None:
    for stream in list(_streams):
        stream._forked()


atexit.register(_drain_all)
os.register_at_fork(after_in_child=_after_fork)
