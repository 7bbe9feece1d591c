"""The commands the manifests and units call: ``heartbeat check`` (a worker's or the scheduler's
probe) and ``drain`` (a worker's preStop hook), run as real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator import heartbeats
from orchestrator.config import load_settings
from orchestrator.store import migrate
from orchestrator.store.db import Store
from tests.test_cli import run


def test_heartbeat_check_passes_only_while_a_process_of_this_host_beats(tmp_path: Path) -> None:
    store = Store(load_settings(overrides={"data_dir": tmp_path / "data"}).store_url)
    try:
        migrate.upgrade(store)
        silent = run(["heartbeat", "check"], tmp_path)
        assert (silent.returncode, silent.stderr) == (
            1,
            f"Error: no worker or scheduler on {socket.gethostname()} beat in the last 20 s\n",
        )
        heartbeats.beat(store, heartbeats.Beat("worker", ("events",), pid=42))
        beating = run(["heartbeat", "check"], tmp_path)
        assert beating.returncode == 0, beating.stderr
        me = f"{socket.gethostname()}:42:{heartbeats.this_life()}"  # host:pid:life
        assert beating.stdout.startswith(f"worker {me} events beat ")
        assert run(["heartbeat", "check", "--host", "another-pod"], tmp_path).returncode == 1
    finally:
        store.dispose()


def test_drain_stops_the_process_and_returns_once_it_has_exited(tmp_path: Path) -> None:
    stopping = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), sys.exit(0)))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", stopping + "time.sleep(60)"])
    with ThreadPoolExecutor(1) as pool:
        exited = pool.submit(child.wait, 30)  # reaped as soon as it exits, as PID 1's parent would
        time.sleep(0.5)  # its handler is installed
        started = time.monotonic()
        result = run(["drain", "--pid", str(child.pid)], tmp_path)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert exited.result() == 0  # it exited through its own SIGTERM handler (a worker drains there)
    assert 1 <= took < 10
