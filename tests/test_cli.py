"""The command line: every command teaches with --help; errors are one line, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.processes import Proc, free_port, orchestrator_env, wait_for, wait_healthy

COMMANDS = [
    [],
    ["up"],
    ["serve"],
    ["worker"],
    ["scheduler"],
    ["event", "send"],
    ["incident", "list"],
    ["incident", "show"],
    ["timeline"],
    ["db", "upgrade"],
    ["outbox", "list"],
    ["outbox", "retry"],
    ["config", "show"],
    ["config", "check"],
    ["switch", "mirror"],
    ["heartbeat", "check"],
    ["drain"],
]


def run(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=orchestrator_env(tmp / "data", **env),
        timeout=60,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 4


def test_send_then_list_show_and_timeline_from_the_store(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"title": "Leaked secret", "kind": "credential.leak", "severity": "critical"})
    )
    sent = run(["event", "send", str(event)], tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "critical credential.leak: Leaked secret" in sent.stdout
    assert "no incidents" in run(["incident", "list"], tmp_path).stdout  # no worker ran yet


def test_invalid_event_file_names_the_file_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": "x",\n "kind": }')
    result = run(["event", "send", str(bad)], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"Error: {bad}: body is not JSON")
    assert "line 2" in result.stderr and "Traceback" not in result.stderr


def test_config_error_is_one_line(tmp_path: Path) -> None:
    result = run(["incident", "list"], tmp_path, broker_url="kafka://nope")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "broker_url (ORCH_BROKER_URL)" in result.stderr


def test_unknown_incident_is_one_line(tmp_path: Path) -> None:
    result = run(["incident", "show", "inc-missing"], tmp_path)
    assert (result.returncode, result.stderr) == (1, "error: no incident with id 'inc-missing'\n")


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    result = run(["config", "show"], tmp_path, intake_token="planted-intake-token-99")
    assert result.returncode == 0
    assert "planted-intake-token-99" not in result.stdout and "intake_token: '********'" in result.stdout


def test_config_show_masks_sources_credentials_and_every_url_password(tmp_path: Path) -> None:
    sources = {
        "pagerduty": {"auth": {"kind": "hmac_body", "secret": "pd-secret-1", "secrets": ["pd-old-2"]}},
        "datadog": {"auth": {"kind": "basic", "username": "dd", "secret": "dd-password-3"}},
    }
    result = run(
        ["config", "show"],
        tmp_path,
        sources=json.dumps(sources),
        token_inventory="postgresql://app:inventory-password-4@db/app",
        purge_records=json.dumps([{"table": "videos", "url": "postgresql://a:purge-password-5@db/x"}]),
        smtp_url="smtps://ir:smtp-password-6@mail:465",
        drill=json.dumps({"env": {"ORCH_SLACK_BOT_TOKEN": "xoxb-drill-7"}}),
    )
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    planted = ["pd-secret-1", "pd-old-2", "dd-password-3", "inventory-password-4", "purge-password-5"]
    assert [s for s in [*planted, "smtp-password-6", "xoxb-drill-7"] if s in result.stdout] == []
    assert shown["sources"]["pagerduty"]["auth"] == {
        "kind": "hmac_body",
        "secret": "********",
        "secrets": ["********"],
    }
    assert shown["token_inventory"] == "postgresql://app:********@db/app"
    assert shown["drill"]["env"] == {"ORCH_SLACK_BOT_TOKEN": "********"}


def test_service_refuses_to_start_with_an_invalid_playbook(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "broken.yaml").write_text(
        "name: broken\ntrigger: {manual: {}}\nsteps:\n  - {id: a, action: nope}\n"
    )
    result = run(["worker"], tmp_path, playbook_dirs=json.dumps([str(books)]))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {books / 'broken.yaml'}:4:")
    assert "unknown action 'nope'" in result.stderr


def test_up_says_where_the_tokens_are_and_writes_no_file_for_configured_ones(tmp_path: Path) -> None:
    port = free_port()
    env = orchestrator_env(
        tmp_path / "data", port=str(port), intake_token="configured-intake-1", api_token="configured-api-2"
    )
    proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
    finally:
        proc.stop()
    said = [line for line in proc.log.read_text().splitlines() if line.startswith("orchestrator up:")]
    assert len(said) == 1 and said[0].endswith("; tokens as configured"), said
    assert not (tmp_path / "data" / "credentials.json").exists()


@pytest.mark.parametrize(("revokers", "alone"), [(2, 2), (0, 0)])
def test_up_gives_the_revocation_queue_workers_of_its_own(tmp_path: Path, revokers: int, alone: int) -> None:
    """``up_revocation_workers`` processes take the revocation queue alone, beside the one worker
    for the other queues (0: that one takes every queue), as /readyz counts them."""
    port = free_port()
    env = orchestrator_env(tmp_path / "data", port=str(port), up_revocation_workers=str(revokers))
    proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)

        def ready() -> dict[str, int] | None:
            # /readyz is 200 once every role has one process; the other revocation workers may beat later
            answer = httpx.get(f"{url}/readyz", timeout=5)
            alive: dict[str, int] = answer.json()["alive"]
            return alive if answer.status_code == 200 and alive["worker:revocation"] >= (alone or 1) else None

        alive = wait_for(ready, timeout=90, what=f"every role of up ready, {alone or 1} revocation worker(s)")
    finally:
        proc.stop()
    assert alive["worker:revocation"] == (alone or 1)
    assert alive["worker:events"] == alive["worker:playbooks"] == alive["worker:notifications"] == 1
    assert alive["scheduler"] == 1


def test_an_empty_secret_file_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    empty = tmp_path / "api_token"
    empty.write_text("\n")
    result = run(["incident", "list"], tmp_path, api_token_file=str(empty))
    assert (result.returncode, result.stderr) == (
        1,
        f"error: api_token (ORCH_API_TOKEN_FILE): the secret file {empty} is empty\n",
    )
    assert not (tmp_path / "data" / "credentials.json").exists()


def test_a_secret_given_as_variable_and_file_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    secret = tmp_path / "intake_token"
    secret.write_text("planted-file-token-31\n")
    variable = "planted-variable-token-32"
    result = run(["incident", "list"], tmp_path, intake_token=variable, intake_token_file=str(secret))
    assert (result.returncode, result.stderr) == (
        1,
        "error: intake_token: set either ORCH_INTAKE_TOKEN or ORCH_INTAKE_TOKEN_FILE, not both\n",
    )


def test_a_malformed_list_in_the_environment_is_one_line(tmp_path: Path) -> None:
    result = run(["incident", "list"], tmp_path, playbook_dirs="/srv/playbooks")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    named = "error: invalid config: playbook_dirs (ORCH_PLAYBOOK_DIRS): not valid JSON"
    assert result.stderr.startswith(named)


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://orch:planted-db-password-33@127.0.0.1:{port}/orchestrator"
    for command in (["incident", "list"], ["db", "upgrade"]):
        result = run(command, tmp_path, database_url=url)
        assert result.returncode == 1, command
        assert result.stderr.count("\n") == 1 and "planted-db-password-33" not in result.stderr
        where = f"postgresql+psycopg://orch:***@127.0.0.1:{port}/orchestrator"
        assert result.stderr.startswith(f"error: the store at {where} is unreachable: ")


def test_the_worker_refuses_to_start_when_no_playbook_engages_the_switch_on_a_critical_compromise(
    tmp_path: Path,
) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "note.yaml").write_text(  # matches a critical event, but disconnects nothing
        "name: note-only\ntrigger: {match: {min_severity: high}}\n"
        "steps:\n  - {id: a, action: note, with: {message: seen}}\n"
    )
    result = run(["worker"], tmp_path, shipped_playbooks="false", playbook_dirs=json.dumps([str(books)]))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "error: no playbook engages the kill switch (tiktok.kill_switch) for a critical host.compromise"
    )
    assert f"(playbooks from {books})" in result.stderr
