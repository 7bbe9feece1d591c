"""Canary tokens: any sighting of a planted decoy is a critical credential.leak, one incident per canary."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.detectors import Canary, CanaryDetector, Emitter, load_canaries, new_canary_token
from orchestrator.errors import ConfigError
from orchestrator.events.models import EventRow
from orchestrator.redaction import redact_text
from orchestrator.worker.runtime import Runtime

DECOY = "act.decoy0000111122223333444455556666!1234.va"
ENV_DECOY = "rft.envdecoy9999888877776666555544443333"
DETECTOR = CanaryDetector([Canary("backup-env", DECOY, "/srv/.env.bak"), Canary("s3-dump", ENV_DECOY)])


def test_a_sighting_in_a_log_line_is_one_critical_leak_per_canary() -> None:
    line = f'{{"msg": "GET /v2/user/info/", "auth": "Bearer {DECOY}", "again": "{DECOY}"}}'
    [event] = DETECTOR.scan(line, seen_in="/var/log/app.jsonl", ip="203.0.113.9")
    evidence = event.pop("evidence")
    assert event == {
        "title": "Canary token 'backup-env' seen in /var/log/app.jsonl",
        "kind": "credential.leak",
        "severity": "critical",
        "dedup_key": "canary:backup-env",
        "entities": {"ips": ["203.0.113.9"]},
        "labels": {
            "canary": "backup-env",
            "planted_in": "/srv/.env.bak",
            "seen_in": "/var/log/app.jsonl",
            "token_fingerprint": event["labels"]["token_fingerprint"],
        },
    }
    assert DECOY not in redact_text(evidence)


def test_a_sighting_in_a_request_names_the_request() -> None:
    events = DETECTOR.scan_request(
        method="POST",
        path="/login",
        headers={"User-Agent": "curl"},
        query=f"refresh={ENV_DECOY}",
        body=DECOY.encode(),
        client_ip="198.51.100.7",
    )
    assert sorted((e["dedup_key"], e["labels"]["seen_in"]) for e in events) == [
        ("canary:backup-env", "request POST /login"),
        ("canary:s3-dump", "request POST /login"),
    ]


def test_lines_without_a_decoy_emit_nothing() -> None:
    assert DETECTOR.scan("act.someotherrealtoken0000000000000000", seen_in="x") == []
    assert CanaryDetector([]).scan(DECOY, seen_in="x") == []


def test_emitted_sightings_are_durable_and_stored_without_the_decoy(runtime: Runtime) -> None:
    emitter = Emitter(runtime.store, source="canary")
    ids = [emitter.emit(e) for e in DETECTOR.scan(f"leaked {DECOY}", seen_in="app.log")]
    with runtime.store.unit_of_work() as session:
        rows = session.scalars(select(EventRow)).all()
        assert [(r.id, r.source, r.severity, r.kind) for r in rows] == [
            (ids[0], "canary", "critical", "credential.leak")
        ]
        assert DECOY not in str(rows[0].raw)


def test_new_canaries_look_like_tiktok_tokens_and_are_unique() -> None:
    first, second = new_canary_token(), new_canary_token("refresh")
    assert first.startswith("act.") and second.startswith("rft.") and first != second
    assert redact_text(first) == "[REDACTED]"


def test_canary_file_loads_and_bad_entries_are_named(tmp_path: Path) -> None:
    good = tmp_path / "canaries.yaml"
    good.write_text(f"canaries:\n  - name: a\n    token: {DECOY}\n    planted_in: /x\n")
    assert load_canaries(good) == [Canary("a", DECOY, "/x")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("canaries:\n  - name: a\n    token: short\n")
    with pytest.raises(ConfigError, match=r"canaries\[0\]\.token: at least 16"):
        load_canaries(bad)
