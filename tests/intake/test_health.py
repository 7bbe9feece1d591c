"""Probes over real HTTP: /livez asks nothing, /readyz needs every role's fresh heartbeat,
/metrics answers 200 with the store down, and a stalled revocation shows as a growing gauge."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import clock, heartbeats
from orchestrator.api.app import create_app
from orchestrator.config import Settings
from orchestrator.revocation.models import LedgerRow, RevocationRow
from orchestrator.routing import QUEUES
from orchestrator.store import outbox
from orchestrator.store.db import Store
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN
from tests.support.server import serve_app

OPERATOR = {"Authorization": f"Bearer {API_TOKEN}"}


def _scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{base_url}/metrics", headers=OPERATOR, timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_readyz_names_each_missing_role_until_every_role_beats(runtime: Runtime) -> None:
    with serve_app(create_app(runtime)) as base_url:
        empty = httpx.get(f"{base_url}/readyz")
        assert empty.status_code == 503
        assert empty.json()["missing"] == ["scheduler", *(f"worker:{q}" for q in QUEUES)]
        heartbeats.beat(runtime.store, heartbeats.Beat("scheduler", pid=1))
        heartbeats.beat(runtime.store, heartbeats.Beat("worker", ("events",), pid=2))
        partial = httpx.get(f"{base_url}/readyz")
        assert (partial.status_code, partial.json()["missing"]) == (
            503,
            ["worker:playbooks", "worker:revocation", "worker:notifications"],
        )
        worker = heartbeats.Beat("worker", ("playbooks", "revocation", "notifications"), pid=3)
        heartbeats.beat(runtime.store, worker)
        ready = httpx.get(f"{base_url}/readyz")
        assert (ready.status_code, ready.json()["missing"]) == (200, [])
        samples = _scrape(base_url)
        assert samples[("orchestrator_role_processes", (("role", "worker:revocation"),))] == 1
        heartbeats.forget(runtime.store, worker)  # a clean stop: gone at once
        assert httpx.get(f"{base_url}/readyz").json()["missing"] == [
            "worker:playbooks",
            "worker:revocation",
            "worker:notifications",
        ]
        assert httpx.get(f"{base_url}/livez").status_code == 200


def test_a_heartbeat_older_than_the_stale_limit_counts_for_nothing(runtime: Runtime) -> None:
    me = heartbeats.Beat("scheduler", pid=4)
    heartbeats.beat(runtime.store, me)
    with runtime.store.unit_of_work() as session:
        rows = heartbeats.read_beats(session)
    fresh = rows[0].beat_at + timedelta(seconds=heartbeats.STALE_SECONDS - 1)
    stale = rows[0].beat_at + timedelta(seconds=heartbeats.STALE_SECONDS + 1)
    assert heartbeats.readiness(rows, fresh).alive["scheduler"] == 1
    assert heartbeats.readiness(rows, stale).alive["scheduler"] == 0


def test_metrics_answer_with_the_store_down_and_livez_still_answers(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    runtime = Runtime(down)
    try:
        with serve_app(create_app(runtime)) as base_url:
            samples = _scrape(base_url)
            assert samples[("orchestrator_store_up", ())] == 0
            assert ("orchestrator_outbox_depth", ()) not in samples
            assert httpx.get(f"{base_url}/livez").status_code == 200
            readyz = httpx.get(f"{base_url}/readyz", timeout=10)
            assert readyz.status_code == 503 and "store" in readyz.json()
    finally:
        runtime.close()


def _revocation(store: Store, *, started_minutes_ago: int, settled_minutes_ago: int | None) -> None:
    now = clock.utcnow()
    with store.unit_of_work() as session:
        session.add(
            RevocationRow(
                id="rev-stalled00001",
                key="run:step",
                scope={},
                status="running",
                created_at=now - timedelta(minutes=started_minutes_ago),
            )
        )
        session.flush()
        session.add(LedgerRow(revocation_id="rev-stalled00001", fingerprint="a" * 64, open_id="o1"))
        if settled_minutes_ago is not None:
            at = now - timedelta(minutes=settled_minutes_ago)
            session.add(
                LedgerRow(
                    revocation_id="rev-stalled00001",
                    fingerprint="b" * 64,
                    open_id="o2",
                    status="revoked",
                    updated_at=at,
                )
            )


def test_a_revocation_with_no_token_settled_for_minutes_shows_as_stalled(runtime: Runtime) -> None:
    with serve_app(create_app(runtime)) as base_url:
        idle = _scrape(base_url)
        assert idle[("orchestrator_revocation_stalled_seconds", ())] == 0
        _revocation(runtime.store, started_minutes_ago=10, settled_minutes_ago=4)
        samples = _scrape(base_url)
    assert samples[("orchestrator_revocation_tokens_unsettled", (("status", "pending"),))] == 1
    assert 4 * 60 <= samples[("orchestrator_revocation_stalled_seconds", ())] < 5 * 60


def test_the_oldest_outbox_row_ages_through_a_stall_while_the_depth_stays_flat(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        stalled_since = clock.utcnow() - timedelta(minutes=3)
        outbox.enqueue(session, topic="event.received", ref_id="evt-stalled", now=stalled_since)
    with serve_app(create_app(runtime)) as base_url:
        first = _scrape(base_url)
        time.sleep(1.1)
        later = _scrape(base_url)
    assert first[("orchestrator_outbox_depth", ())] == later[("orchestrator_outbox_depth", ())] == 1
    oldest = ("orchestrator_outbox_oldest_seconds", ())
    assert 180 <= first[oldest] < later[oldest]
