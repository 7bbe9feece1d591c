"""`orchestrator demo`, the README's main-job command, tells the whole story and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import orchestrator_env

pytestmark = pytest.mark.slow


def test_demo_disconnects_and_revokes_every_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "demo", "--tokens", "200"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "unused"),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5. Kill switch engaged" in result.stdout
    assert "6. Every token revoked: TikTok says 200 of 200 grants are gone" in result.stdout
    assert "revocation.finished" in result.stdout and "every hash and link holds" in result.stdout
