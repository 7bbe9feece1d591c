"""One event's whole path, on every broker and store: HTTP intake -> outbox -> Celery -> incident."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.incidents import service as incidents
from orchestrator.routing import QUEUES
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support import services
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app
from tests.support.worker import in_process_worker

COMBINATIONS = {
    "embedded+sqlite": ("embedded", None),
    "redis+sqlite": (services.REDIS_URL, None),
    "rabbitmq+sqlite": (services.AMQP_URL, None),
    "embedded+postgresql": ("embedded", "postgres"),
    "redis+postgresql": (services.REDIS_URL, "postgres"),
}


@pytest.fixture(params=list(COMBINATIONS), ids=list(COMBINATIONS))
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    broker, store = COMBINATIONS[request.param]
    with ExitStack() as stack:
        overrides: dict[str, object] = {
            "data_dir": tmp_path,
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "broker_url": broker,
        }
        if broker.startswith("redis"):
            services.require(broker, "Redis")
            services.flush_redis()
        if broker.startswith("amqp"):
            services.require(broker, "RabbitMQ")
            services.purge_rabbitmq(QUEUES)
        if store == "postgres":
            overrides["database_url"] = stack.enter_context(services.postgres_database())
        runtime = make_runtime(load_settings(overrides=overrides))
        stack.callback(runtime.close)
        stack.enter_context(in_process_worker(runtime, concurrency=4))
        base_url = stack.enter_context(serve_app(create_app(runtime)))
        yield runtime, base_url


def test_posted_event_becomes_an_incident_with_a_timeline(live: tuple[Runtime, str]) -> None:
    runtime, base_url = live
    started = time.monotonic()
    answer = httpx.post(
        f"{base_url}/v1/events",
        json={
            "title": "Attacker on web-1",
            "kind": "host.compromise",
            "severity": "critical",
            "dedup_key": "web-1-compromise",
            "entities": {"hosts": ["web-1"]},
        },
        headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
    )
    assert answer.status_code == 202

    def incident_with_timeline() -> dict[str, Any] | None:
        body = httpx.get(f"{base_url}/v1/incidents", headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
        if not body["incidents"]:
            return None
        incident_id = body["incidents"][0]["id"]
        entries = httpx.get(
            f"{base_url}/v1/incidents/{incident_id}/timeline",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ).json()["entries"]
        return {"incident": body["incidents"][0], "kinds": [e["kind"] for e in entries]} if entries else None

    found = wait_for(incident_with_timeline, timeout=15, what="the incident and its timeline")
    elapsed = time.monotonic() - started
    assert found["kinds"][:2] == ["event.received", "incident.opened"]
    incident = found["incident"]
    assert isinstance(incident, dict)
    assert (incident["severity"], incident["dedup_key"], incident["event_count"]) == (
        "critical",
        "web-1-compromise",
        1,
    )
    assert elapsed < 15
    with runtime.store.unit_of_work() as session:
        assert timeline.verify_chain(session, str(incident["id"])) is None


def test_duplicate_sends_collapse_into_one_incident(live: tuple[Runtime, str]) -> None:
    runtime, base_url = live
    event = {"title": "Token anomaly", "kind": "token.anomaly", "severity": "high", "dedup_key": "anomaly-7"}
    for _ in range(5):
        assert (
            httpx.post(
                f"{base_url}/v1/events", json=event, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
            ).status_code
            == 202
        )

    def five_counted() -> bool:
        with runtime.store.unit_of_work() as session:
            rows = incidents.list_incidents(session)
            return len(rows) == 1 and rows[0].event_count == 5

    wait_for(five_counted, timeout=15, what="five events in one incident")
