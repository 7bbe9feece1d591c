"""OCSF Detection Finding 2004: identity is finding_info.uid; ms times; Close/Resolved resolve."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("ocsf.json"))


def test_sample_finding_normalises_to_one_whole_event() -> None:
    [event] = parse("ocsf", BODY)
    assert summary(event) == {
        "source": "ocsf",
        "kind": "security.alert",
        "severity": "high",
        "title": "TikTok refresh token replayed from new ASN",
        "observed_at": "2025-11-26T15:52:00Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "ocsf:finding-7f3a",
        "status": "firing",
        "entities": entities(hosts=["worker-2"], ips=["10.0.1.8", "203.0.113.90"], users=["mallory"]),
        "labels": {
            "product": "Detector X",
            "vendor": "Acme",
            "ocsf_version": "1.3.0",
            "analytic": "token-replay",
            "types": "Credential Access",
        },
        "source_ref": "https://detector.example/findings/7f3a",
    }


def test_a_list_gives_one_event_each_and_closed_ones_are_resolved() -> None:
    closed = {**BODY, "activity_id": 3}
    resolved = {**BODY, "status_id": "4", "finding_info": {**BODY["finding_info"], "uid": "other"}}
    events = parse("ocsf", [closed, BODY, resolved])
    assert [(e.status, e.dedup_key) for e in events] == [
        ("resolved", "ocsf:finding-7f3a"),
        ("firing", "ocsf:finding-7f3a"),
        ("resolved", "ocsf:other"),
    ]


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({"severity_id": 1}, Severity.INFO),
        ({"severity_id": 5}, Severity.CRITICAL),
        ({"severity_id": 6}, Severity.CRITICAL),
        ({"severity_id": 99, "severity": "Low"}, Severity.LOW),
        ({"severity_id": 0, "severity": "Unknown"}, Severity.MEDIUM),
    ],
)
def test_severity_table(changes: dict[str, Any], level: Severity) -> None:
    [event] = parse("ocsf", {**BODY, **changes}, default=Severity.MEDIUM)
    assert event.severity is level


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "class_uid": 2001}, "class_uid"),
        ({"class_uid": 2004}, "finding_info"),
        ({"class_uid": "2004", "finding_info": {}}, "finding_info.uid"),
        ([BODY, 3], "[1]"),
        ([{**BODY, "time": "later"}], "[0].time"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("ocsf", body)
    assert caught.value.field == field
