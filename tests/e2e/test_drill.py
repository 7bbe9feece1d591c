"""`orchestrator drill`: exit 0 when every SLO is met, 1 when one is missed; the configured real
inventory is never touched; results are kept for the trend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import orchestrator_env

pytestmark = pytest.mark.slow


def drill(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "drill", *args],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=orchestrator_env(tmp / "data", **env),
        timeout=300,
    )


def test_drills_pass_and_fail_on_their_slos_and_leave_the_real_inventory_alone(tmp_path: Path) -> None:
    real = tmp_path / "real-tokens.jsonl"
    real.write_text(json.dumps({"open_id": "real-user", "access_token": "act.REAL0000000000!1.va"}) + "\n")
    before = real.stat().st_mtime_ns
    ok = drill(
        tmp_path,
        "--tokens",
        "100",
        "--slo-disconnect",
        "60",
        "--slo-revoke",
        "120",
        token_inventory=str(real),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "awareness -> disconnect" in ok.stdout and "met" in ok.stdout
    assert "revoked 100 of 100" in ok.stdout
    impossible = drill(tmp_path, "--tokens", "50", "--slo-disconnect", "0.000001", token_inventory=str(real))
    assert impossible.returncode == 1
    assert "missed" in impossible.stdout
    assert real.stat().st_mtime_ns == before and "REAL" in real.read_text()
    history = subprocess.run(
        [sys.executable, "-m", "orchestrator", "drill", "history"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "data"),
        timeout=60,
    )
    lines = history.stdout.strip().splitlines()
    assert len(lines) == 2 and "passed" in lines[0] and "MISSED" in lines[1]
