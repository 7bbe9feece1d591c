"""The project's pytest configuration refuses a misspelt marker instead of ignoring it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def _run_pytest_on(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(source, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-c", str(PROJECT / "pyproject.toml")]
    command += ["--rootdir", str(tmp_path), "-p", "no:cacheprovider", str(tmp_path / "test_sample.py")]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_an_unregistered_marker_is_an_error(tmp_path: Path) -> None:
    result = _run_pytest_on(tmp_path, "import pytest\n\n@pytest.mark.servcies\ndef test_x():\n    pass\n")
    assert result.returncode != 0
    assert "'servcies' not found in `markers` configuration option" in result.stdout


def test_a_registered_marker_runs(tmp_path: Path) -> None:
    result = _run_pytest_on(tmp_path, "import pytest\n\n@pytest.mark.services\ndef test_x():\n    pass\n")
    assert result.returncode == 0, result.stdout
