"""``orchestrator switch mirror --every``: an application host keeps its own mirror file fresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.guard import Guard
from tests.support.processes import Proc, orchestrator_env, wait_for
from tests.support.services import postgres_database

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _switch(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "switch", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _mirrored(path: Path) -> dict[str, object] | None:
    return json.loads(path.read_text()) if path.exists() else None


def test_an_app_host_refreshes_its_mirror_and_follows_the_store(tmp_path: Path) -> None:
    with postgres_database() as url:
        ir_host = orchestrator_env(tmp_path / "orchestrator", database_url=url, log_level="warning")
        app_host = orchestrator_env(tmp_path / "app", database_url=url)
        _switch(["engage", "--reason", "build host compromised", "--by", "alice"], ir_host, tmp_path)
        mirror = tmp_path / "app" / "kill_switch.json"
        proc = Proc(["switch", "mirror", "--every", "1s"], env=app_host, cwd=tmp_path, log=tmp_path / "m.log")
        try:
            wait_for(lambda: (_mirrored(mirror) or {}).get("engaged") is True, timeout=60, what="engaged")
            aged = time.time() - 120
            os.utime(mirror, (aged, aged))
            wait_for(lambda: mirror.stat().st_mtime > time.time() - 10, timeout=10, what="a refresh")
            guard = Guard.from_env({"ORCH_DATA_DIR": str(tmp_path / "app"), "ORCH_GUARD_SOURCES": "file"})
            assert guard.engaged() is True and guard.reading().source == "file"

            _switch(["release", "--reason", "host rebuilt", "--by", "bob"], ir_host, tmp_path)
            wait_for(lambda: (_mirrored(mirror) or {}).get("engaged") is False, timeout=10, what="released")
            guard.invalidate()
            guard.check()
        finally:
            proc.stop()
        assert proc.popen.returncode == 0, proc.log.read_text()
