"""``orchestrator detect run``: follows logs, emits rule matches and canary sightings into the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from orchestrator.config import load_settings
from orchestrator.events.models import EventRow
from orchestrator.store.db import Store
from tests.support.processes import orchestrator_env

DECOY = "act.clidecoy000011112222333344445555!4321.va"


def test_detect_run_once_emits_matches_from_followed_logs(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: outside\n    when:\n      client_ip: {not_in_cidrs: [10.0.0.0/8]}\n"
        "    emit: {kind: credential.misuse, severity: critical, title: 'use from {client_ip}'}\n"
    )
    canaries = tmp_path / "canaries.yaml"
    canaries.write_text(f"canaries:\n  - name: env-backup\n    token: {DECOY}\n")
    log = tmp_path / "api.jsonl"
    log.write_text(
        "\n".join(
            [
                json.dumps({"client_ip": "10.0.0.1"}),
                json.dumps({"client_ip": "203.0.113.1"}),
                json.dumps({"client_ip": "10.0.0.2", "authorization": f"Bearer {DECOY}"}),
            ]
        )
        + "\n"
    )
    args = ["detect", "run", "--rules", str(rules), "--canary", str(canaries), "--follow", str(log), "--once"]
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "data"),
        timeout=60,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "emitted 2 event(s)"), result.stderr
    assert DECOY not in result.stdout + result.stderr
    store = Store(load_settings(overrides={"data_dir": tmp_path / "data"}).store_url)
    with store.unit_of_work() as session:
        rows = session.scalars(select(EventRow).order_by(EventRow.source)).all()
        found = [(r.source, r.kind, r.severity, r.title) for r in rows]
    store.dispose()
    assert found == [
        ("canary", "credential.leak", "critical", f"Canary token 'env-backup' seen in {log}"),
        ("logrule", "credential.misuse", "critical", "use from 203.0.113.1"),
    ]


def test_detect_run_needs_something_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "detect", "run", "--follow", "x.log"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "data"),
        timeout=60,
    )
    assert result.returncode == 2 and "give --rules, --canary or both" in result.stderr
