"""Datadog webhooks: identity is the alert cycle key; Recovered is resolved; dates in ms strings."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("datadog.json"))


def test_sample_body_normalises_to_one_whole_event() -> None:
    [event] = parse("datadog", BODY)
    assert summary(event) == {
        "source": "datadog",
        "kind": "token.anomaly",
        "severity": "critical",
        "title": "[Triggered on {host:api-4}] TikTok token misuse",
        "observed_at": "2025-11-26T15:59:00Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "datadog:7340285437012734001",
        "status": "firing",
        "entities": entities(hosts=["api-4"], ips=["192.0.2.44"]),
        "labels": {
            "monitor_id": "9876543",
            "priority": "P1",
            "transition": "Triggered",
            "alert_type": "error",
            "event_type": "query_alert_monitor",
            "tag.env": "prod",
            "tag.kind": "token.anomaly",
            "tag.ip": "192.0.2.44",
            "tag.team": "payments",
            "tag.host": "api-4",
        },
        "source_ref": "https://app.datadoghq.com/event/event?id=7340285437012734",
    }


def test_recovered_arriving_first_is_resolved_with_the_same_identity() -> None:
    recovered = {
        **BODY,
        "alert_transition": "Recovered",
        "alert_type": "success",
        "title": "[Recovered on {host:api-4}] TikTok token misuse",
        "id": "999",
    }
    [first] = parse("datadog", recovered)
    [second] = parse("datadog", BODY)
    assert (first.status, second.status) == ("resolved", "firing")
    assert first.dedup_key == second.dedup_key


def test_default_payload_without_variables_keys_on_the_title_without_its_prefix() -> None:
    default = {key: BODY[key] for key in ("body", "last_updated", "event_type", "title", "date", "org", "id")}
    [triggered] = parse("datadog", default, default=Severity.LOW)
    [recovered] = parse("datadog", {**default, "id": "2", "title": "[Recovered] TikTok token misuse"})
    [other] = parse("datadog", {**default, "title": "[Triggered] Another monitor"})
    assert triggered.severity is Severity.LOW
    assert recovered.status == "resolved"
    assert triggered.dedup_key != other.dedup_key


def test_unfilled_variables_and_upper_case_keys_are_read_loosely() -> None:
    body = {
        "ALERT_CYCLE_KEY": "$ALERT_CYCLE_KEY",
        "AGGREG_KEY": "agg-1",
        "TITLE": "t",
        "ALERT_PRIORITY": "$ALERT_PRIORITY",
        "DATE": 1764172740000,
    }
    [event] = parse("datadog", body, default=Severity.MEDIUM)
    assert (event.dedup_key, event.severity) == ("datadog:agg-1", Severity.MEDIUM)
    assert event.observed_at.isoformat() == "2025-11-26T15:59:00+00:00"


def test_security_signal_severity_wins_over_priority() -> None:
    [event] = parse("datadog", {**BODY, "security_signal_severity": "low"})
    assert event.severity is Severity.LOW
