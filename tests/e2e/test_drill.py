"""`orchestrator drill`: exit 0 when every SLO is met, 1 when one is missed; the configured real
inventory is never touched; results are kept for the trend; with --two-apps a leak of one app
leaves the other working and a host compromise then disconnects both."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.processes import orchestrator_env
from tests.support.rehearsal import app_lines, assert_nothing_secret

pytestmark = pytest.mark.slow


def drill(tmp: Path, *args: str, answers: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "drill", *args],
        capture_output=True,
        text=True,
        input=answers,
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
    history = drill(tmp_path, "history")
    lines = history.stdout.strip().splitlines()
    assert len(lines) == 2 and "passed" in lines[0] and "MISSED" in lines[1]


def test_a_drill_with_people_asks_each_manual_step_times_its_done_and_keeps_the_trend(tmp_path: Path) -> None:
    # On the terminal (no Slack in the drill's stage): Enter for the secret, a ticket id for the report.
    people = drill(tmp_path, "--tokens", "30", "--with-people", answers="\nTT-48213\n")
    assert people.returncode == 0, people.stdout + people.stderr
    assert "MANUAL STEP rotate_client_secret: Rotate the TikTok client secret" in people.stdout
    assert "ticket_id (a drill: any value will do):" in people.stdout
    timed = re.findall(
        r"^person -> (\w+)\s+asked (.+?) after awareness, done in (.+?) by (cli:\S+)$", people.stdout, re.M
    )
    assert [step for step, *_ in timed] == ["rotate_client_secret", "file_tiktok_report"], people.stdout
    assert people.stdout.index("awareness -> report") < people.stdout.index("person -> rotate_client_secret")
    plain = drill(tmp_path, "--tokens", "30")
    assert plain.returncode == 0 and "person ->" not in plain.stdout
    svg = tmp_path / "trend.svg"
    history = drill(tmp_path, "history", "--svg", str(svg))
    rows = history.stdout.strip().splitlines()
    assert len(rows) == 2 and re.search(r"people \d", rows[0]) and rows[1].endswith("people -  (30 tokens)")
    picture = ET.fromstring(svg.read_text())
    dots = [(c.get("data-name", ""), c.get("cx")) for c in picture.iter("{http://www.w3.org/2000/svg}circle")]
    assert sorted({name for name, _ in dots}) == ["disconnect", "people", "report", "revoke"]
    assert len([name for name, _ in dots if name == "disconnect"]) == 2


def test_a_two_app_drill_disconnects_the_leaked_app_alone_then_both(tmp_path: Path) -> None:
    shown = drill(tmp_path, "--two-apps", "--tokens", "60", "--slo-disconnect", "60", "--slo-revoke", "120")
    out = shown.stdout
    assert shown.returncode == 0, out + shown.stderr
    assert re.search(r"^DRILL inc-\w+: 60 tokens each of 2 apps \(shop, ads\), playbook", out, re.M), out
    slos = re.findall(r"^awareness -> (.+?)\s{2,}.*\s(met|missed)$", out, re.M)
    assert [name for name, _ in slos] == [
        "disconnect",
        "revoke",
        "report",
        "disconnect all apps",
        "revoke all apps",
    ]
    assert {verdict for _, verdict in slos} == {"met"}, out
    # ads's own TikTok saw no revoke request during the leak of shop, and its guard let calls through.
    after_leak = out[out.index("after the leak of shop:") : out.index("after the host compromise:")]
    assert app_lines(after_leak) == [
        ("shop", "login_kit", "ENGAGED", "refuses", "60", "60", "60"),
        ("ads", "business", "released", "allows", "0", "60", "0"),
    ], out
    # 60 requests per app revoked 60 of 60 grants: every token of each app was sent exactly once.
    after_host = out[out.index("after the host compromise:") : out.index("apps kept apart:")]
    assert app_lines(after_host) == [
        ("shop", "login_kit", "ENGAGED", "refuses", "60", "60", "60"),
        ("ads", "business", "ENGAGED", "refuses", "60", "60", "60"),
    ], out
    assert "apps kept apart: yes" in out and "revoked 120 of 120;" in out
    folder = Path(re.findall(r"drill store, logs and reports in (\S+)$", out, re.M)[0])
    assert_nothing_secret(out + shown.stderr, folder)
    history = drill(tmp_path, "history").stdout.strip().splitlines()
    assert len(history) == 1 and "passed" in history[0] and "(60 tokens)" in history[0]
