"""Alertmanager webhook v4: one event per grouped alert, identity is the fingerprint."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary


def test_grouped_body_gives_one_whole_event_per_alert() -> None:
    events = parse("alertmanager", sample("alertmanager_grouped.json"))
    assert [summary(e) for e in events] == [
        {
            "source": "alertmanager",
            "kind": "token.anomaly",
            "severity": "critical",
            "title": "TikTok token used from 203.0.113.7",
            "observed_at": "2026-11-26T15:50:00.123456Z",
            "received_at": "2026-11-26T16:00:00Z",
            "dedup_key": "alertmanager:1a30ba71cca2921f",
            "status": "firing",
            "entities": entities(hosts=["api-1"], ips=["203.0.113.7"], open_ids=["_000aaa"]),
            "labels": {
                "alertname": "TikTokTokenUseFromUnknownIP",
                "instance": "api-1:9100",
                "job": "app",
                "severity": "critical",
                "kind": "token.anomaly",
                "src_ip": "203.0.113.7",
                "open_id": "_000aaa",
            },
            "source_ref": "http://prometheus:9090/graph?g0.expr=tiktok_unknown_ip%3E0",
        },
        {
            "source": "alertmanager",
            "kind": "security.alert",
            "severity": "medium",
            "title": "SSHBruteForce",
            "observed_at": "2026-11-26T15:40:00Z",
            "received_at": "2026-11-26T16:00:00Z",
            "dedup_key": "alertmanager:bc97ff14869b13e3",
            "status": "resolved",
            "entities": entities(hosts=["bastion"]),
            "labels": {"alertname": "SSHBruteForce", "instance": "bastion", "severity": "warning"},
            "source_ref": None,
        },
    ]


def test_raw_keeps_the_group_and_one_alert_with_secrets_redacted() -> None:
    first = parse("alertmanager", sample("alertmanager_grouped.json"))[0]
    assert first.raw is not None and isinstance(first.raw, dict)
    assert first.raw["groupKey"] == '{}:{alertname="TikTokTokenUseFromUnknownIP"}'
    assert first.raw["alert"]["fingerprint"] == "1a30ba71cca2921f"
    assert "alerts" not in first.raw
    assert "act.abcdefghijklmnop1234" not in json.dumps(first.raw)


def test_resolved_before_firing_both_normalise_to_the_same_identity() -> None:
    body = json.loads(sample("alertmanager_grouped.json"))
    alert = body["alerts"][0]
    resolved = {
        **body,
        "status": "resolved",
        "alerts": [{**alert, "status": "resolved", "endsAt": "2026-11-26T15:55:00Z"}],
    }
    firing = {**body, "alerts": [alert]}
    [first] = parse("alertmanager", resolved)
    [second] = parse("alertmanager", firing)
    assert (first.status, second.status) == ("resolved", "firing")
    assert first.dedup_key == second.dedup_key


def test_missing_severity_falls_to_the_configured_default_not_info() -> None:
    body = {"alerts": [{"labels": {"alertname": "x"}, "fingerprint": "f1"}]}
    [event] = parse("alertmanager", body, default=Severity.HIGH)
    assert event.severity is Severity.HIGH


def test_missing_fingerprint_uses_a_stable_hash_of_the_labels() -> None:
    body = {"alerts": [{"labels": {"b": "2", "a": "1"}}]}
    [one] = parse("alertmanager", body)
    [two] = parse("alertmanager", {"alerts": [{"labels": {"a": "1", "b": "2"}}]})
    assert one.dedup_key == two.dedup_key


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "alerts"),
        ({"alerts": {"a": 1}}, "alerts"),
        ({"alerts": ["x"]}, "alerts[0]"),
        ({"alerts": [{"labels": ["a"]}]}, "alerts[0].labels"),
        ({"alerts": [{"startsAt": "soon"}]}, "alerts[0].startsAt"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("alertmanager", body)
    assert caught.value.field == field


def test_loose_types_and_epoch_times_are_accepted() -> None:
    body = {
        "alerts": [
            {
                "labels": {"alertname": 5, "severity": "P2"},
                "startsAt": 1764172800,
                "fingerprint": 123,
            }
        ]
    }
    [event] = parse("alertmanager", body)
    assert (event.title, event.severity, event.dedup_key) == (
        "5",
        Severity.HIGH,
        "alertmanager:123",
    )
    assert event.observed_at.isoformat() == "2025-11-26T16:00:00+00:00"
