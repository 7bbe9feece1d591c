"""Log lines to a file or a pipe are written by a thread of their own, in order, and none is lost
when the process exits or forks."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from orchestrator import logsink
from orchestrator.logging import configure_logging, get_logger

SCRIPT = """
import os, sys
from orchestrator.logging import configure_logging, get_logger
from orchestrator.redaction import register_secret

configure_logging("info", "json")  # to stderr: a pipe here
register_secret("planted-secret-4242")
log = get_logger("sink")
for n in range(2000):
    log.info("line", n=n, token="planted-secret-4242")
if os.fork() == 0:
    log.info("from the child")
    sys.exit(0)
os.wait()
log.info("parent after the child")
"""


class _File:
    """A real file that notes which thread writes to it."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("w")
        self.writers: set[str] = set()

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread().name)
        return self.file.write(text)

    def flush(self) -> None:
        self.file.flush()

    def fileno(self) -> int:
        return self.file.fileno()

    def isatty(self) -> bool:
        return False


def test_lines_to_a_file_are_written_in_order_by_the_log_writer_thread(tmp_path: Path) -> None:
    target = _File(tmp_path / "orchestrator.log")
    configure_logging("info", "json", stream=target)
    try:
        for n in range(500):
            get_logger("sink").info("line", n=n)
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        stream = handler.stream
        assert isinstance(stream, logsink.BackgroundStream)
        stream.drain()
    finally:
        configure_logging("warning", "json")
    lines = (tmp_path / "orchestrator.log").read_text().splitlines()
    assert [f'"n": {n},' in line for n, line in enumerate(lines)] == [True] * 500
    assert target.writers == {"log-writer"}


def test_a_stream_in_memory_or_a_terminal_is_written_in_place() -> None:
    stream = io.StringIO()
    assert logsink.in_background(stream) is stream
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        assert logsink.in_background(terminal) is terminal
    os.close(leader)


def test_every_line_reaches_the_pipe_at_exit_and_after_a_fork_none_twice() -> None:
    command = [sys.executable, "-c", SCRIPT]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    numbered = [line for line in lines if '"event": "line"' in line]
    assert len(numbered) == 2000 and all(f'"n": {n},' in line for n, line in enumerate(numbered))
    assert [line for line in lines if "from the child" in line] != []
    assert len([line for line in lines if "parent after the child" in line]) == 1
    assert "planted-secret-4242" not in done.stderr
