"""`orchestrator demo`, the README's main-job command, tells the whole story and exits 0: the switch,
every token revoked and probed, the report delivered, every clause MET or N/A, the commands to
look further, and no token, secret or private key anywhere in what it prints."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.tiktok.simulator import SimulatorOptions
from tests.support.processes import orchestrator_env

pytestmark = pytest.mark.slow


def test_demo_tells_the_whole_story_and_shows_no_secret(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "demo", "--tokens", "200"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "unused"),
        timeout=300,
    )
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    folder = Path(re.findall(r"the demo folder is kept: (\S+)\)", result.stdout)[0])
    try:
        _assert_story(result.stdout, folder)
        _assert_nothing_secret(shown, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _assert_story(out: str, folder: Path) -> None:
    assert "5. Kill switch engaged" in out
    assert (
        "6. Every token revoked: TikTok says 200 of 200 grants are gone (200 requests, at most 200/s)" in out
    )
    assert re.search(r"^7\. Probe: 10 of 200 revoked tokens: 10 dead, 0 still alive, 0 unknown$", out, re.M)
    delivered = re.search(
        r"^8\. Report delivered to tiktok@drill\.invalid: Message-ID (<\S+>); saved as (\S+)$", out, re.M
    )
    assert delivered is not None, out
    eml = Path(delivered[2])
    assert eml.parent == folder / "mail" and f"Message-ID: {delivered[1]}" in eml.read_text()
    clauses = re.findall(
        r"^   (III\.2\(f\)|IV|VI|III\.3\(g\))\s+(.+?)\s{2,}(MET|N/A|MISSED|PENDING)\s", out, re.M
    )
    assert [(c, s) for c, _, s in clauses] == [
        ("III.2(f)", "MET"),
        ("III.2(f)", "MET"),
        ("IV", "MET"),
        ("VI", "N/A"),
        ("III.3(g)", "MET"),
    ], out
    assert "revocation.finished" in out and "every hash and link holds" in out
    times = re.findall(r"^(2\d{3}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})  ", out, re.M)
    assert len(times) > 20 and times == sorted(times), "the timeline's times agree with its order"
    for command in ("orchestrator postmortem inc-", "orchestrator evidence export inc-", "/incidents/inc-"):
        assert command in out
    assert f"export ORCH_DATA_DIR={folder / 'data'}" in out and "credentials.json" in out


def _assert_nothing_secret(shown: str, folder: Path) -> None:
    inventory = [json.loads(line) for line in (folder / "tokens.jsonl").read_text().splitlines()]
    secrets = [r["access_token"] for r in inventory] + [
        r["refresh_token"] for r in inventory if r.get("refresh_token")
    ]
    secrets += [SimulatorOptions().client_secret, "rehearsal-api-token", "rehearsal-intake-token"]
    private = (folder / "data" / "evidence-key.pem").read_text().splitlines()[1]
    secrets.append(private)
    assert [s for s in secrets if s in shown] == []
    assert "PRIVATE KEY" not in shown and not re.search(r"\b(act|rft|clt)\.\w{8,}", shown)
