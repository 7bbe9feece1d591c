"""``orchestrator switch``: release needs --reason; every command prints who, when and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli.main import cli
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in [n for n in __import__("os").environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORCH_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("ORCH_INTAKE_TOKEN", INTAKE_TOKEN)
    monkeypatch.setenv("ORCH_LOG_LEVEL", "warning")
    return CliRunner()


def test_engage_then_release_from_the_cli_updates_the_file_mirror(invoke: CliRunner, tmp_path: Path) -> None:
    engaged = invoke.invoke(cli, ["switch", "engage", "--reason", "laptop stolen", "--by", "alice", "--json"])
    assert engaged.exit_code == 0, engaged.output
    assert json.loads(engaged.output)["engaged"] is True
    mirror = tmp_path / "data" / "kill_switch.json"
    assert json.loads(mirror.read_text())["engaged"] is True

    refused = invoke.invoke(cli, ["switch", "release"])
    assert refused.exit_code == 2
    assert "--reason" in refused.output

    released = invoke.invoke(
        cli, ["switch", "release", "--reason", "wiped", "--approved-by", "carol", "--json"]
    )
    assert released.exit_code == 0, released.output
    data = json.loads(released.output)
    assert (data["engaged"], data["reason"], data["approved_by"], data["version"]) == (
        False,
        "wiped",
        "carol",
        2,
    )
    assert json.loads(mirror.read_text())["engaged"] is False

    status = invoke.invoke(cli, ["switch", "status"])
    assert status.exit_code == 0
    assert status.output.splitlines()[0] == "released"


def test_history_lists_changes_from_every_chain_newest_first(invoke: CliRunner) -> None:
    assert invoke.invoke(cli, ["switch", "engage", "--reason", "first", "--by", "alice"]).exit_code == 0
    assert invoke.invoke(cli, ["switch", "release", "--reason", "second", "--by", "bob"]).exit_code == 0
    shown = invoke.invoke(cli, ["switch", "history", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert [(r["kind"], r["chain"], r["actor"], r["data"]["reason"]) for r in rows] == [
        ("switch.released", "system", "bob", "second"),
        ("switch.engaged", "system", "alice", "first"),
    ]
