"""Grafana Alerting webhook contact point: one event per alert, as Alertmanager's shape."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import ValidationFailed

from .support import entities, parse, sample, summary


def test_grouped_body_gives_one_whole_event_per_alert() -> None:
    events = parse("grafana", sample("grafana_grouped.json"))
    assert [summary(e) for e in events] == [
        {
            "source": "grafana",
            "kind": "security.alert",
            "severity": "medium",
            "title": "Burst of logins for alice",
            "observed_at": "2026-11-26T13:51:03.157076Z",
            "received_at": "2026-11-26T16:00:00Z",
            "dedup_key": "grafana:c6eadffa33fcdf37",
            "status": "firing",
            "entities": entities(hosts=["web-2"], users=["alice"]),
            "labels": {
                "alertname": "Login burst",
                "team": "blue",
                "host": "web-2",
                "user": "alice",
            },
            "source_ref": "https://grafana.example/alerting/grafana/abc/view",
        },
        {
            "source": "grafana",
            "kind": "security.alert",
            "severity": "high",
            "title": "Egress spike",
            "observed_at": "2026-11-26T14:30:00Z",
            "received_at": "2026-11-26T16:00:00Z",
            "dedup_key": "grafana:0d1f0e2a9b8c7d6e",
            "status": "resolved",
            "entities": entities(),
            "labels": {"alertname": "Egress spike", "severity": "high"},
            "source_ref": "https://grafana.example/d/xyz?viewPanel=2",
        },
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"receiver": "x"}, "alerts"), ({"alerts": [1]}, "alerts[0]"), ([], "body")],
)
def test_body_that_does_not_fit_names_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse("grafana", body)
    assert caught.value.field == field
