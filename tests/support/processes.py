"""Start real ``orchestrator`` processes for end-to-end tests, and wait on them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proc:
    """One ``orchestrator`` subprocess whose output goes to a log file."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._handle = log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", *args],
            env=env,
            cwd=cwd,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group (``up`` has children)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def pause(self) -> None:
        """SIGSTOP the process group: it holds its connections but takes nothing more."""
        os.killpg(self.popen.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.popen.pid, signal.SIGCONT)

    def holds_port(self, port: int) -> bool:
        """Whether a process of this one's group has a TCP socket bound to local ``port``: the
        sender of a request a test server received from that port."""
        inodes = {f"socket:[{inode}]" for inode in _tcp_inodes(port)}
        for pid in _group(self.popen.pid):
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir()):
                    return True
        return False

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._handle.close()


def _tcp_inodes(port: int) -> set[str]:
    """The inodes of the TCP sockets bound to local ``port`` (Linux ``/proc/net/tcp*``)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rpartition(":")[2], 16) == port:
                    found.add(fields[9])
    return found


def _group(pgid: int) -> list[int]:
    """The pids in process group ``pgid`` (``/proc/PID/stat``'s fifth field)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rpartition(")")[2].split()[2]) == pgid:
                pids.append(int(stat.parent.name))
    return pids


def orchestrator_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["ORCH_DATA_DIR"] = str(data_dir)
    env["ORCH_LOG_FORMAT"] = "json"
    for key, value in settings.items():
        env[f"ORCH_{key.upper()}"] = value
    return env


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Any = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def wait_healthy(base_url: str, timeout: float = 90) -> None:
    """Start-up is not what these tests measure: on a loaded 2-core machine `up` took 40-66 s."""
    wait_for(
        lambda: httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200,
        timeout=timeout,
        what="healthz",
    )


def wait_schema(store_url: str, timeout: float = 60) -> None:
    """Wait until processes started on a fresh store have migrated it to the current schema."""
    from orchestrator.store import migrate
    from orchestrator.store.db import Store

    store = Store(store_url)
    try:
        wait_for(
            lambda: migrate.current_revision(store) == migrate.head_revision(),
            timeout=timeout,
            what="the store's schema",
        )
    finally:
        store.dispose()
