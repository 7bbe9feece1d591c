"""POST /v1/events over real HTTP semantics: 202 only when durable, clear 4xx otherwise."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator.api.app import create_app
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.events.models import EventRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN
from tests.support.server import serve_app

EVENT = {"title": "Build host compromised", "kind": "host.compromise", "severity": "critical"}
AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[httpx.Client]:
    with serve_app(create_app(runtime)) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def _stored(runtime: Runtime) -> tuple[int, int]:
    with runtime.store.unit_of_work() as session:
        events = session.scalar(select(func.count()).select_from(EventRow)) or 0
        # the event's row (a critical event engages the switch too, which owes a switch.changed row)
        owed = session.scalar(select(func.count()).where(OutboxRow.topic == EVENT_TOPIC)) or 0
    return events, owed


def test_valid_event_is_durable_before_202(client: httpx.Client, runtime: Runtime) -> None:
    answer = client.post("/v1/events", json=EVENT, headers=AUTH)
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]
    with runtime.store.unit_of_work() as session:
        row = session.get(EventRow, event_id)
        assert row is not None and (row.title, row.severity) == ("Build host compromised", "critical")
    assert _stored(runtime) == (1, 1)


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({}, json.dumps(EVENT), 401, "missing or invalid bearer token"),
        ({"Authorization": "Bearer wrong"}, json.dumps(EVENT), 401, "missing or invalid bearer token"),
        (
            {"Authorization": f"Basic {INTAKE_TOKEN}"},
            json.dumps(EVENT),
            401,
            "missing or invalid bearer token",
        ),
        (AUTH, '{"title": "x", "kind": ', 400, None),
        (AUTH, json.dumps({"kind": "host.compromise", "severity": "high"}), 422, None),
        (AUTH | {"Content-Type": "text/plain"}, json.dumps(EVENT), 415, None),
        (AUTH, json.dumps({**EVENT, "pad": "x" * (1024 * 1024)}), 413, "body larger than 1048576 bytes"),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "wrong-scheme",
        "malformed-json",
        "missing-title",
        "not-json",
        "oversized",
    ],
)
def test_bad_input_is_refused_and_reaches_no_worker(
    client: httpx.Client, runtime: Runtime, headers: dict[str, str], body: str, status: int, error: str | None
) -> None:
    answer = client.post("/v1/events", content=body, headers={"Content-Type": "application/json", **headers})
    assert answer.status_code == status
    if error:
        assert answer.json()["error"] == error
    assert _stored(runtime) == (0, 0)


def test_missing_field_is_named(client: httpx.Client) -> None:
    answer = client.post("/v1/events", json={"kind": "host.compromise", "severity": "high"}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["field"] == "title"


def test_intake_token_cannot_read_incidents(client: httpx.Client) -> None:
    assert client.get("/v1/incidents", headers=AUTH).status_code == 401
    assert client.get("/v1/incidents", headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200


def test_operator_token_may_also_post(client: httpx.Client) -> None:
    answer = client.post("/v1/events", json=EVENT, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 202


def test_unknown_incident_is_404(client: httpx.Client) -> None:
    answer = client.get("/v1/incidents/inc-nope/timeline", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 404
    assert "inc-nope" in answer.json()["error"]


def test_planted_secrets_never_reach_a_log_line(client: httpx.Client, log_stream: io.StringIO) -> None:
    planted = "act.PLANTEDplanted0000!1234.va"
    client.post("/v1/events", json={**EVENT, "title": f"leak {planted}"}, headers=AUTH)
    client.post("/v1/events", json=EVENT, headers={"Authorization": f"Bearer {planted}"})
    client.post("/v1/events", content=f'{{"title": "{planted}", ', headers=AUTH)
    output = log_stream.getvalue()
    assert "events accepted" in output
    assert planted not in output and INTAKE_TOKEN not in output


def test_healthz_reports_store_and_broker(client: httpx.Client) -> None:
    answer = client.get("/healthz")
    assert answer.json() == {"status": "ok", "store": "ok", "broker": "ok"}


def _events_counted(client: httpx.Client) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(
        client.get("/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}).text
    ):
        for sample in family.samples:
            if sample.name == "orchestrator_events_total":
                found[(sample.labels["source"], sample.labels["outcome"])] = sample.value
    return found


def test_every_delivery_is_counted_by_source_and_outcome(client: httpx.Client) -> None:
    before = _events_counted(client)
    grouped = (Path(__file__).parent / "sources/samples/alertmanager_grouped.json").read_bytes()
    assert client.post("/v1/events", json=EVENT, headers=AUTH).status_code == 202
    alerts = client.post("/v1/events/alertmanager", content=grouped, headers=AUTH)
    assert alerts.status_code == 202
    assert client.post("/v1/events", json=EVENT).status_code == 401
    assert client.post("/v1/events", json={"kind": "x"}, headers=AUTH).status_code == 422
    assert client.post("/v1/events/nosuchtool", json=EVENT, headers=AUTH).status_code == 404
    after = _events_counted(client)

    def grew(source: str, outcome: str) -> float:
        return after.get((source, outcome), 0) - before.get((source, outcome), 0)

    assert grew("generic", "accepted") == 1
    assert grew("alertmanager", "accepted") == alerts.json()["accepted"] > 1  # one per alert
    assert (grew("generic", "unauthorized"), grew("generic", "invalid")) == (1, 1)
    assert grew("unknown", "unknown_source") == 1  # a made-up source name never becomes a label
