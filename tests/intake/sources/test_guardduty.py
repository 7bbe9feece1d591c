"""GuardDuty via EventBridge: identity is detail.id; float severity bands; archived is resolved."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity
from orchestrator.intake.sources.guardduty import severity_of

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("guardduty.json"))


def test_sample_body_normalises_to_one_whole_event() -> None:
    [event] = parse("guardduty", BODY)
    assert summary(event) == {
        "source": "guardduty",
        "kind": "security.alert",
        "severity": "high",
        "title": "Credentials for instance role app-role used from external IP address.",
        "observed_at": "2026-11-26T15:51:00Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": "guardduty:16afba5c5c43e07c9e3e5e2e544e95df",
        "status": "firing",
        "entities": entities(
            hosts=["i-0abc123def4567890", "ip-10-0-0-5.ec2.internal"],
            ips=["10.0.0.5", "54.0.0.5", "198.51.100.77"],
            users=["app-role"],
        ),
        "labels": {
            "finding_type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "account": "123456789012",
            "region": "us-east-1",
            "resource_type": "AccessKey",
            "count": "3",
        },
        "source_ref": (
            "https://console.aws.amazon.com/guardduty/home?region=us-east-1"
            "#/findings?fId=16afba5c5c43e07c9e3e5e2e544e95df"
        ),
    }


def test_an_updated_finding_keeps_the_identity_and_archived_is_resolved() -> None:
    archived = copy.deepcopy(BODY)
    archived["id"] = "another-eventbridge-id"
    archived["detail"]["service"].update(archived=True, count=9)
    [first] = parse("guardduty", archived)
    [second] = parse("guardduty", BODY)
    assert (first.status, second.status) == ("resolved", "firing")
    assert first.dedup_key == second.dedup_key


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.5, Severity.INFO),
        (2, Severity.LOW),
        ("5.5", Severity.MEDIUM),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        ("HIGH", Severity.HIGH),
        (42, Severity.MEDIUM),
        (None, Severity.MEDIUM),
    ],
)
def test_severity_bands(value: Any, level: Severity) -> None:
    assert severity_of(value, Severity.MEDIUM) is level


def test_a_bare_finding_without_the_envelope_is_accepted() -> None:
    [event] = parse("guardduty", BODY["detail"])
    assert event.dedup_key == "guardduty:16afba5c5c43e07c9e3e5e2e544e95df"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "detail-type": "AWS API Call via CloudTrail"}, "detail-type"),
        ({"detail": []}, "detail"),
        ({"detail": {"type": "x"}}, "detail.id"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("guardduty", body)
    assert caught.value.field == field
