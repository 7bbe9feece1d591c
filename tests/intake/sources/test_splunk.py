"""Splunk webhook alert action: identity is the search (or the row's dedup_key), never the sid."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import Severity

from .support import entities, parse, sample, summary

BODY: dict[str, Any] = json.loads(sample("splunk.json"))


def test_sample_body_normalises_to_one_whole_event() -> None:
    [event] = parse("splunk", BODY)
    assert summary(event) == {
        "source": "splunk",
        "kind": "security.alert",
        "severity": "high",
        "title": "TikTok token in access logs",
        "observed_at": "2025-11-26T15:55:00Z",
        "received_at": "2026-11-26T16:00:00Z",
        "dedup_key": normalise.identity_key("splunk", "search", "TikTok token in access logs"),
        "status": "firing",
        "entities": entities(
            hosts=["web-3"], ips=["198.51.100.9"], users=["svc-tiktok"], open_ids=["_000ccc", "_000ddd"]
        ),
        "labels": {"app": "search", "owner": "admin", "search_name": "TikTok token in access logs"},
        "source_ref": "https://splunk.example:8000/app/search/search?q=%7Cloadjob%20scheduler__admin",
    }


def test_raw_row_is_kept_with_the_token_in_raw_redacted() -> None:
    [event] = parse("splunk", BODY)
    assert isinstance(event.raw, dict)
    assert event.raw["result"]["_raw"] == "GET /callback?access_token=[REDACTED] HTTP/1.1"


def test_a_new_run_of_the_same_search_keeps_the_identity() -> None:
    [first] = parse("splunk", BODY)
    [second] = parse("splunk", {**BODY, "sid": "scheduler__admin__search__other_run"})
    assert first.dedup_key == second.dedup_key


def test_a_dedup_key_field_in_the_row_is_the_identity() -> None:
    [event] = parse("splunk", {**BODY, "result": {**BODY["result"], "dedup_key": "host-web-3"}})
    assert event.dedup_key == "splunk:host-web-3"


def test_no_severity_falls_to_the_configured_default() -> None:
    [event] = parse("splunk", {"search_name": "s", "result": {}}, default=Severity.CRITICAL)
    assert (event.severity, event.observed_at.isoformat()) == (Severity.CRITICAL, "2026-11-26T16:00:00+00:00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sid": "x"}, "search_name"),
        ({"search_name": "s", "result": "row"}, "result"),
        ({"search_name": "s", "result": {"_time": "noon"}}, "result._time"),
    ],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("splunk", body)
    assert caught.value.field == field
