"""/metrics over real HTTP, parsed by Prometheus' own text parser: figures from the store, no secret."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from orchestrator import metrics
from orchestrator.api.app import create_app
from orchestrator.incidents.models import IncidentRow
from orchestrator.store import outbox
from orchestrator.worker.app import publisher
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN
from tests.support.server import serve_app
from tests.timeline.story import T0, build_incident

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
Scraped = tuple[str, Samples]


@pytest.fixture
def scraped(runtime: Runtime) -> Iterator[Scraped]:
    build_incident(runtime.store)
    build_incident(runtime.store, incident_id="inc-drill0000001", drill=True)
    with runtime.store.unit_of_work() as session:
        session.add(
            IncidentRow(
                id="inc-open00000001",
                dedup_key="k",
                title="open",
                kind="host.compromise",
                severity="high",
                status="detected",
                source="falco",
                entities={},
                event_count=1,
                resolved_signals=0,
                is_drill=False,
                aware_at=T0,
                last_event_at=T0,
            )
        )
        outbox.enqueue(session, topic="event.received", ref_id="evt-x", now=T0)
    publisher(runtime.celery)("event.received", 1)
    metrics.observe_event("metrics_test", "accepted")
    metrics.observe_event("metrics_test", "accepted")
    metrics.observe_event("Metrics Test!", "rejected")  # not a bounded name: counted as other
    with serve_app(create_app(runtime)) as base_url:
        answer = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            assert isinstance(sample, Sample)
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    yield answer.text, samples


def test_metrics_count_events_by_source_and_outcome_with_bounded_labels(scraped: Scraped) -> None:
    _, samples = scraped
    assert samples[("orchestrator_events_total", (("outcome", "accepted"), ("source", "metrics_test")))] == 2
    assert samples[("orchestrator_events_total", (("outcome", "rejected"), ("source", "other")))] >= 1


def test_metrics_read_incidents_revocations_outbox_and_queues_from_the_store(
    scraped: tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]],
) -> None:
    _, samples = scraped
    assert samples[("orchestrator_incidents_open", (("drill", "false"), ("severity", "high")))] == 1
    assert ("orchestrator_incidents_open", (("drill", "false"), ("severity", "critical"))) not in samples
    assert samples[("orchestrator_outbox_depth", ())] == 1
    assert samples[("orchestrator_queue_depth", (("queue", "events"),))] == 1
    assert samples[("orchestrator_queue_depth", (("queue", "revocation"),))] == 0
    for queue in ("events", "playbooks", "revocation", "notifications"):
        assert samples[("orchestrator_queue_depth_known", (("queue", queue),))] == 1
    for outcome, total in (("revoked", 2200), ("already_dead", 160), ("failed", 40)):
        assert samples[("orchestrator_revocations_total", (("outcome", outcome),))] == total


def test_metrics_histograms_measure_awareness_to_disconnect_and_report(scraped: Scraped) -> None:
    _, samples = scraped

    def bucket(name: str, drill: str, le: str) -> float:
        return samples[(f"orchestrator_awareness_to_{name}_seconds_bucket", (("drill", drill), ("le", le)))]

    assert [bucket("disconnect", "false", le) for le in ("60.0", "300.0", "+Inf")] == [0, 1, 1]
    assert samples[("orchestrator_awareness_to_disconnect_seconds_sum", (("drill", "false"),))] == 120
    assert bucket("disconnect", "true", "300.0") == 1  # the drill, apart
    report = timedelta(hours=26).total_seconds()
    assert [bucket("report", "false", le) for le in ("86400.0", "+Inf")] == [0, 1]
    assert samples[("orchestrator_awareness_to_report_seconds_sum", (("drill", "false"),))] == report


def test_metrics_hold_no_secret(scraped: Scraped) -> None:
    text, _ = scraped
    for secret in (API_TOKEN, INTAKE_TOKEN, "act.", "rft."):
        assert secret not in text
