"""Microsoft Sentinel incident trigger: identity is the incident GUID; Closed is resolved."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("sentinel.json"))


def test_sample_body_normalises_to_one_whole_event() -> None:
    [event] = parse("sentinel", BODY)
    assert summary(event) == {
        "source": "sentinel",
        "kind": "security.alert",
        "severity": "high",
        "title": "Impossible travel for svc account",
        "observed_at": "2026-11-26T15:30:00Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "sentinel:63883bf7-5be1-42f4-809a-0417943b837b",
        "status": "firing",
        "entities": entities(hosts=["vm-app-1"], ips=["203.0.113.50"], users=["svc-tiktok@acme.example"]),
        "labels": {"incident_number": "42", "provider": "Azure Sentinel", "status": "New"},
        "source_ref": (
            "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/"
            "subscriptions/0000/incidents/63883bf7"
        ),
    }


def test_closed_update_arriving_first_is_resolved_with_the_same_identity() -> None:
    closed = copy.deepcopy(BODY)
    closed["objectEventType"] = "Update"
    closed["eventUniqueId"] = "another-delivery"
    closed["object"]["properties"].update(status="Closed", classification="TruePositive")
    [first] = parse("sentinel", closed)
    [second] = parse("sentinel", BODY)
    assert (first.status, second.status) == ("resolved", "firing")
    assert first.dedup_key == second.dedup_key
    assert first.observed_at.isoformat() == "2026-11-26T15:45:00+00:00"
    assert first.labels["classification"] == "TruePositive"


@pytest.mark.parametrize(
    ("word", "level"),
    [
        ("Informational", Severity.INFO),
        ("Low", Severity.LOW),
        ("Medium", Severity.MEDIUM),
        ("Odd", Severity.CRITICAL),
    ],
)
def test_severity_table(word: str, level: Severity) -> None:
    body = copy.deepcopy(BODY)
    body["object"]["properties"]["severity"] = word
    [event] = parse("sentinel", body, default=Severity.CRITICAL)
    assert event.severity is level


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"objectSchemaType": "Incident"}, "object"),
        ({"object": {"properties": {}}}, "object.name"),
        ({"object": {"name": "x", "properties": []}}, "object.properties"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("sentinel", body)
    assert caught.value.field == field
