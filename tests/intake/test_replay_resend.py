"""A captured, signed delivery resent with its unsigned parts changed is still a replay (401)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.worker.runtime import Runtime
from tests.intake.test_routes_sources import (
    FAILED,
    JSON,
    SECRET,
    grafana_headers,
    pagerduty_headers,
    running,
    sample,
    stored,
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Runtime, httpx.Client]]:
    with running(tmp_path) as pair:
        yield pair


def _digest(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_a_pagerduty_delivery_resent_with_a_new_webhook_id_is_refused(
    live: tuple[Runtime, httpx.Client],
) -> None:
    runtime, client = live
    body = sample("pagerduty_triggered.json")
    first = client.post("/v1/events/pagerduty", content=body, headers=pagerduty_headers(body, "d-1"))
    assert first.status_code == 202
    resends = [
        pagerduty_headers(body, "d-2"),
        {**JSON, "X-PagerDuty-Signature": f"v1={_digest(body).upper()}", "X-Webhook-Id": "d-3"},
        {**JSON, "X-PagerDuty-Signature": f"v1=00, v1={_digest(body)} ,v1=ff", "X-Webhook-Id": "d-4"},
    ]
    answers = [client.post("/v1/events/pagerduty", content=body, headers=h) for h in resends]
    assert [(a.status_code, a.json()) for a in answers] == [(401, FAILED)] * 3
    assert stored(runtime) == first.json()["accepted"]


def test_a_grafana_delivery_resent_with_its_signature_respelled_is_refused(
    live: tuple[Runtime, httpx.Client],
) -> None:
    runtime, client = live
    body = sample("grafana_grouped.json")
    headers = grafana_headers(body)
    first = client.post("/v1/events/grafana", content=body, headers=headers)
    assert first.status_code == 202
    signature = headers["X-Grafana-Alerting-Signature"]
    respelled = [signature.upper(), f"{signature[:10].upper()}{signature[10:]}"]
    answers = [
        client.post(
            "/v1/events/grafana",
            content=body,
            headers={**headers, "X-Grafana-Alerting-Signature": s, "X-Webhook-Id": "other"},
        )
        for s in respelled
    ]
    assert [(a.status_code, a.json()) for a in answers] == [(401, FAILED)] * 2
    assert stored(runtime) == first.json()["accepted"]
