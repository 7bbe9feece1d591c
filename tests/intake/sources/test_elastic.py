"""Elastic Security alerts via a Kibana webhook: identity kibana.alert.uuid; mapping by config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity
from orchestrator.intake.sources import FieldMapping

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("elastic.json"))
LINK = "https://kibana.example/app/security/detections/rules/id/a1b2"


def test_grouped_alerts_give_one_whole_event_each_dotted_or_nested() -> None:
    events = parse("elastic", BODY)
    assert [summary(e) for e in events] == [
        {
            "source": "elastic",
            "kind": "security.alert",
            "severity": "critical",
            "title": "TikTok token in command line",
            "observed_at": "2026-11-26T15:55:30Z",
            "received_at": "2026-11-26T16:00:00Z",
            "dedup_key": "elastic:0f9e8d7c6b5a",
            "status": "firing",
            "entities": entities(hosts=["build-1"], ips=["10.2.0.4", "fe80::1"], users=["ci"]),
            "labels": {"rule_id": "tt-token-cmdline", "risk_score": "99", "workflow_status": "open"},
            "source_ref": LINK,
        },
        {
            "source": "elastic",
            "kind": "security.alert",
            "severity": "high",
            "title": "Beacon to rare domain",
            "observed_at": "2026-11-26T15:00:00Z",
            "received_at": "2026-11-26T16:00:00Z",
            "dedup_key": "elastic:1a2b3c",
            "status": "resolved",
            "entities": entities(ips=["10.9.9.9"]),
            "labels": {"risk_score": "50", "workflow_status": "closed"},
            "source_ref": LINK,
        },
    ]


def test_command_line_secrets_are_redacted_in_raw() -> None:
    first = parse("elastic", BODY)[0]
    text = json.dumps(first.raw)
    assert "s3cr3tvalue99" not in text and "act.ABCDEFGHIJKLMNOP" not in text


def test_a_single_alert_document_and_a_bare_list_are_accepted() -> None:
    alert = BODY["alerts"][0]
    assert [e.dedup_key for e in parse("elastic", alert)] == ["elastic:0f9e8d7c6b5a"]
    assert len(parse("elastic", [alert, alert])) == 2


def test_a_teams_mapping_overrides_paths_and_severity_words() -> None:
    mapping = FieldMapping.from_config(
        {
            "title": "event.action",
            "kind": "labels.kind",
            "severity": "labels.sev",
            "severity_map": {"sev-a": "critical"},
            "dedup_key": "event.id",
            "entities": {"open_ids": ["labels.open_id"]},
            "labels": {"team": "labels.team"},
        }
    )
    alert = {
        "event": {"id": "e-1", "action": "token-export"},
        "labels": {"kind": "credential.leak", "sev": "SEV-A", "open_id": "_000zz", "team": "red"},
    }
    [event] = parse("elastic", {"alerts": [alert]}, mapping=mapping)
    assert (event.title, event.kind, event.severity, event.dedup_key) == (
        "token-export",
        "credential.leak",
        Severity.CRITICAL,
        "elastic:e-1",
    )
    assert event.entities.open_ids == ["_000zz"]
    assert event.labels == {"team": "red"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"alerts": {}}, "alerts"),
        ({"alerts": [{"host": {"name": "h"}}]}, "alerts[0].kibana.alert.uuid"),
        ({"alerts": ["x"]}, "alerts[0]"),
        ("text", "body"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("elastic", body)
    assert caught.value.field == field
