"""Log rules over JSON lines, and tail -F semantics: appends, partial lines, rotation, truncation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.detectors import FileFollower, LogRuleDetector, load_rules
from orchestrator.errors import ConfigError

RULES = """
rules:
  - name: tiktok-token-outside-allow-list
    when:
      event: tiktok.call
      client_ip: {not_in_cidrs: [10.0.0.0/8, "2001:db8::/32"]}
      open_id: {exists: true}
    emit:
      kind: credential.misuse
      severity: critical
      title: "TikTok token for {open_id} used from {client_ip}"
      dedup_by: [open_id]
      entities: {ips: client_ip, open_ids: [open_id], hosts: [host]}
  - name: admin-login
    when:
      path: {prefix: /admin}
      status: {in: [200, 302]}
      user: {matches: "^(root|admin)$"}
    emit: {title: "Admin login by {user}"}
"""


@pytest.fixture
def detector(tmp_path: Path) -> LogRuleDetector:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return LogRuleDetector(load_rules(path))


def line(**fields: object) -> str:
    return json.dumps(fields)


def test_token_use_outside_the_allow_list_emits_one_whole_event(detector: LogRuleDetector) -> None:
    record = {"event": "tiktok.call", "client_ip": "203.0.113.5", "open_id": "u-1", "host": "api-2"}
    [event] = detector.check_line(json.dumps(record), where="/var/log/api.jsonl")
    assert event["dedup_key"].startswith("logrule:tiktok-token-outside-allow-list:")
    event.pop("dedup_key")
    assert event == {
        "title": "TikTok token for u-1 used from 203.0.113.5",
        "kind": "credential.misuse",
        "severity": "critical",
        "entities": {"ips": ["203.0.113.5"], "open_ids": ["u-1"], "hosts": ["api-2"]},
        "labels": {"rule": "tiktok-token-outside-allow-list", "log": "/var/log/api.jsonl"},
        "record": record,
    }


@pytest.mark.parametrize(
    "record",
    [
        {"event": "tiktok.call", "client_ip": "10.1.2.3", "open_id": "u-1"},
        {"event": "tiktok.call", "client_ip": "2001:db8::7", "open_id": "u-1"},
        {"event": "tiktok.call", "client_ip": "203.0.113.5"},
        {"event": "other", "client_ip": "203.0.113.5", "open_id": "u-1"},
    ],
    ids=["allowed-v4", "allowed-v6", "no-open-id", "other-event"],
)
def test_allowed_or_unrelated_lines_emit_nothing(detector: LogRuleDetector, record: dict[str, str]) -> None:
    assert detector.check_line(json.dumps(record), where="x") == []


def test_the_same_open_id_shares_a_dedup_key_and_another_does_not(detector: LogRuleDetector) -> None:
    def key(open_id: str, ip: str) -> str:
        [event] = detector.check_line(line(event="tiktok.call", client_ip=ip, open_id=open_id), where="x")
        return str(event["dedup_key"])

    assert key("u-1", "203.0.113.5") == key("u-1", "198.51.100.1") != key("u-2", "203.0.113.5")


def test_operators_and_non_json_lines(detector: LogRuleDetector) -> None:
    assert len(detector.check_line(line(path="/admin/x", status=302, user="root"), where="x")) == 1
    assert detector.check_line(line(path="/admin/x", status=500, user="root"), where="x") == []
    assert detector.check_line("not json {", where="x") == []
    assert detector.check_line("[1, 2]", where="x") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: {}", "expected a 'rules' list"),
        ("rules: [{name: a, when: {x: {near: 1}}}]", r"rules\[0\]\.when\.x: one operator of"),
        ("rules: [{name: a, when: {x: {in_cidrs: [nope]}}}]", r"rules\[0\]\.when\.x\.in_cidrs"),
        ("rules: [{name: a, when: {x: 1}, emit: {severity: dire}}]", r"emit\.severity"),
    ],
)
def test_bad_rules_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_rules(path)


def test_follower_reads_appends_and_holds_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text('{"old": 1}\n')
    follower = FileFollower(log)
    assert follower.read_lines() == []  # starts at the end, like tail -F
    with log.open("a") as out:
        out.write('{"a": 1}\n{"b"')
    assert follower.read_lines() == ['{"a": 1}']
    with log.open("a") as out:
        out.write(": 2}\n")
    assert follower.read_lines() == ['{"b": 2}']
    follower.close()


def test_follower_survives_rotation_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    follower = FileFollower(log)
    assert follower.read_lines() == []  # not there yet
    log.write_text('{"n": 1}\n')
    assert follower.read_lines() == ['{"n": 1}']  # appeared later: read from its start
    with log.open("a") as out:
        out.write('{"n": 2}\n')
    os.rename(log, tmp_path / "app.jsonl.1")  # logrotate: move, then create
    with (tmp_path / "app.jsonl.1").open("a") as out:
        out.write('{"n": 3}\n')  # written to the old file after the move
    log.write_text('{"n": 4}\n')
    assert follower.read_lines() == ['{"n": 2}', '{"n": 3}', '{"n": 4}']
    log.write_text('{"n":5}\n')  # copytruncate: same inode, shorter than what was read
    assert follower.read_lines() == ['{"n":5}']
    follower.close()
