"""The detector runner: lines read during a store outage are kept and emitted once it is back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from orchestrator.detectors import (
    Canary,
    CanaryDetector,
    DetectorRunner,
    Emitter,
    FileFollower,
    LogRuleDetector,
    load_rules,
)
from orchestrator.errors import StoreError
from orchestrator.events.models import EventRow
from orchestrator.worker.runtime import Runtime

DECOY = "clt.runnerdecoy00001111222233334444"


def test_lines_read_during_a_store_outage_are_emitted_when_it_returns(
    runtime: Runtime, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "rules:\n  - name: any-error\n    when: {level: error}\n    emit: {title: '{msg}'}\n"
    )
    log = tmp_path / "app.jsonl"
    follower = FileFollower(log)
    runner = DetectorRunner(
        canary_emitter=Emitter(runtime.store, source="canary"),
        rule_emitter=Emitter(runtime.store, source="logrule"),
        followers=[follower],
        rules=LogRuleDetector(load_rules(rules_file)),
        canaries=CanaryDetector([Canary("client-key", DECOY)]),
    )
    assert runner.poll_once() == 0
    lines = [
        {"level": "error", "msg": "first"},
        {"level": "info", "msg": DECOY},
        {"level": "error", "msg": "x"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with runtime.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    with pytest.raises(StoreError):
        runner.poll_once()
    with runtime.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    assert runner.poll_once() == 3
    with runtime.store.unit_of_work() as session:
        found = sorted((row.source, row.title) for row in session.scalars(select(EventRow)))
    assert found == [
        ("canary", f"Canary token 'client-key' seen in {log}"),
        ("logrule", "first"),
        ("logrule", "x"),
    ]
    follower.close()
