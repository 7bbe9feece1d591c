"""PagerDuty v3 webhooks: identity is the incident id; incident.resolved is resolved."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("pagerduty_triggered.json"))


def test_triggered_incident_normalises_to_one_whole_event() -> None:
    [event] = parse("pagerduty", BODY)
    assert summary(event) == {
        "source": "pagerduty",
        "kind": "security.alert",
        "severity": "critical",
        "title": "Leaked TikTok client secret in public repo",
        "observed_at": "2026-11-26T15:45:22.169000Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "pagerduty:PGR0VU2",
        "status": "firing",
        "entities": entities(),
        "labels": {
            "event_type": "incident.triggered",
            "incident_number": "2",
            "urgency": "high",
            "priority": "P1",
            "service": "API Service",
        },
        "source_ref": "https://acme.pagerduty.com/incidents/PGR0VU2",
    }


def test_resolved_before_triggered_shares_the_identity_not_the_event_id() -> None:
    resolved = copy.deepcopy(BODY)
    resolved["event"].update(id="another-event", event_type="incident.resolved")
    [first] = parse("pagerduty", resolved)
    [second] = parse("pagerduty", BODY)
    assert (first.status, second.status) == ("resolved", "firing")
    assert first.dedup_key == second.dedup_key == "pagerduty:PGR0VU2"


def test_a_note_event_is_about_its_incident() -> None:
    note = {
        "event": {
            "event_type": "incident.annotated",
            "data": {
                "type": "incident_note",
                "id": "P2LA89X",
                "content": "token=abc12345",
                "incident": {
                    "id": "PGR0VU2",
                    "summary": "A bump",
                    "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                },
            },
        }
    }
    [event] = parse("pagerduty", note)
    assert (event.dedup_key, event.title) == ("pagerduty:PGR0VU2", "A bump")


def test_urgency_is_used_without_a_priority_and_unknown_falls_to_default() -> None:
    body = copy.deepcopy(BODY)
    body["event"]["data"]["priority"] = None
    body["event"]["data"]["urgency"] = "low"
    [event] = parse("pagerduty", body)
    assert event.severity is Severity.LOW
    body["event"]["data"]["urgency"] = "weird"
    [event] = parse("pagerduty", body, default=Severity.HIGH)
    assert event.severity is Severity.HIGH


@pytest.mark.parametrize("event_type", ["service.created", "pagey.ping"])
def test_events_about_other_resources_give_no_event(event_type: str) -> None:
    assert parse("pagerduty", {"event": {"event_type": event_type, "data": {"id": "S1"}}}) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "event"),
        ({"event": {"event_type": "incident.triggered"}}, "event.data"),
        ({"event": {"event_type": "incident.triggered", "data": {"type": "incident"}}}, "event.data.id"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("pagerduty", body)
    assert caught.value.field == field
