"""Falcosidekick webhook: one event per Falco event, identity is rule + host + container."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("falco.json"))


def test_sample_body_normalises_to_one_whole_event() -> None:
    [event] = parse("falco", BODY)
    assert summary(event) == {
        "source": "falco",
        "kind": "security.alert",
        "severity": "critical",
        "title": "Terminal shell in container",
        "observed_at": "2026-11-26T15:50:12.345678Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": normalise.identity_key("falco", "Terminal shell in container", "node-7", "3ad7b26ded6d"),
        "status": "firing",
        "entities": entities(hosts=["node-7"], ips=["10.0.0.12"], users=["root"]),
        "labels": {
            "container.id": "3ad7b26ded6d",
            "container.name": "api",
            "k8s.ns.name": "prod",
            "k8s.pod.name": "api-7d9f",
            "proc.name": "curl",
            "source": "syscall",
            "tags": "container,shell,mitre_execution",
        },
        "source_ref": None,
    }


def test_the_output_line_secret_never_reaches_title_or_raw() -> None:
    [event] = parse("falco", BODY)
    assert "abcdefghijklmnopqrstu" not in event.title + json.dumps(event.raw)


def test_a_burst_of_one_rule_on_one_container_shares_the_identity() -> None:
    [first] = parse("falco", BODY)
    [second] = parse("falco", {**BODY, "uuid": "another", "time": "2026-11-26T15:50:13Z"})
    assert first.dedup_key == second.dedup_key


def test_nanosecond_evt_time_above_2_53_keeps_microseconds_when_time_is_missing() -> None:
    body = {key: value for key, value in BODY.items() if key != "time"}
    [event] = parse("falco", body)
    assert event.observed_at.isoformat() == "2025-11-26T15:50:12.345679+00:00"


@pytest.mark.parametrize(
    ("priority", "level"),
    [
        ("Emergency", Severity.CRITICAL),
        ("Error", Severity.HIGH),
        ("Warning", Severity.MEDIUM),
        ("Notice", Severity.LOW),
        ("Informational", Severity.INFO),
        ("Debug", Severity.INFO),
        ("?", Severity.LOW),
    ],
)
def test_priority_table(priority: str, level: Severity) -> None:
    [event] = parse("falco", {**BODY, "priority": priority}, default=Severity.LOW)
    assert event.severity is level


def test_missing_rule_names_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("falco", {"output": "x"})
    assert caught.value.field == "rule"
