"""`orchestrator demo`, the README's main-job command, tells the whole story and exits 0: two apps,
the leaked one's switch engaged and every one of its tokens revoked and probed while the other
keeps working, the report delivered, every clause MET or N/A, then a host compromise that
disconnects both; the commands to look further, and no token, secret or private key of either
app anywhere in what it prints."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import orchestrator_env
from tests.support.rehearsal import app_lines, assert_nothing_secret

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
        assert_nothing_secret(shown, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _assert_story(out: str, folder: Path) -> None:
    assert re.search(r"^   shop  login_kit  client key sim-client-key ", out, re.M), out
    assert re.search(r"^   ads   business   client key sim-business-app ", out, re.M), out
    assert "5. Kill switch of shop engaged" in out
    assert (
        "6. Every token of shop revoked: TikTok says 200 of 200 grants are gone "
        "(200 requests, at most 200/s); ads keeps working:" in out
    )
    # Each app's own TikTok counts its revoke requests: after the leak of shop, ads's saw none.
    after_leak = out[out.index("6. ") : out.index("7. ")]
    assert app_lines(after_leak) == [
        ("shop", "login_kit", "ENGAGED", "refuses", "200", "200", "200"),
        ("ads", "business", "released", "allows", "0", "200", "0"),
    ], out
    # After the host compromise both are disconnected; 200 requests revoked 200 of 200 grants, so
    # each token was sent once: none of shop's again, every one of ads's.
    after_host = out[out.index("10. ") : out.index("Timeline:")]
    assert "every app disconnected, ads's tokens revoked, shop's not sent again:" in after_host
    assert app_lines(after_host) == [
        ("shop", "login_kit", "ENGAGED", "refuses", "200", "200", "200"),
        ("ads", "business", "ENGAGED", "refuses", "200", "200", "200"),
    ], out
    assert re.search(
        r"^7\. Probe: 10 of 200 revoked tokens: 10 dead, 0 still alive, 0 unknown; app shop", out, re.M
    )
    delivered = re.search(
        r"^8\. Report delivered to tiktok@drill\.invalid: Message-ID (<\S+>); saved as (\S+)$", out, re.M
    )
    assert delivered is not None, out
    eml = Path(delivered[2])
    assert eml.parent == folder / "mail" and f"Message-ID: {delivered[1]}" in eml.read_text()
    clauses = re.findall(
        r"^   (III\.2\(f\)|IV|VI|III\.3\(g\))\s+(.+?)\s{2,}(MET|N/A|MISSED|PENDING)\s"
        r".*?(?:  for app (\w+) \(client key \S+\))?$",
        out,
        re.M,
    )
    expected = [("III.2(f)", "MET"), ("III.2(f)", "MET"), ("IV", "MET"), ("VI", "N/A"), ("III.3(g)", "MET")]
    incident = [(c, s, "") for c, s in expected]
    assert [(c, s, app) for c, _, s, app in clauses] == incident + [(c, s, "shop") for c, s in expected], out
    assert "revocation.finished" in out and "every hash and link holds" in out
    times = re.findall(r"^(2\d{3}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})  ", out, re.M)
    assert len(times) > 20 and times == sorted(times), "the timeline's times agree with its order"
    for command in (
        "orchestrator postmortem inc-",
        "orchestrator evidence export inc-",
        "orchestrator timeline inc-",
        "/incidents/inc-",
    ):
        assert command in out
    assert f"export ORCH_DATA_DIR={folder / 'data'}" in out and "credentials.json" in out
