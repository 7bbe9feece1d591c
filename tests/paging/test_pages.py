"""Paging's rules on a real store and the services' stand-ins: a retry pages only the services
that failed; an incident no longer open pages nobody; a resolution resolves each page once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.config import load_settings
from orchestrator.incidents import lifecycle
from orchestrator.paging import flows
from orchestrator.paging.providers import PagingFailed
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline.service import entries
from orchestrator.worker.runtime import Runtime
from tests.support.paging_standins import StandIn, opsgenie_standin, pagerduty_standin
from tests.support.rows import incident_row
from tests.support.runtime import make_runtime

ROUTING_KEY = "R0flows5e3f4a9b8c7d6e5f4a3b2c1d0e9"
GENIE_KEY = "4d2c1b0a-flows-4f6a-8b9c-d1e2f3a4b5c6"
INCIDENT = "inc-page00000001"


@dataclass
class Paged:
    runtime: Runtime
    pagerduty: StandIn
    opsgenie: StandIn


@pytest.fixture
def paged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paged]:
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    with pagerduty_standin(ROUTING_KEY) as pagerduty, opsgenie_standin(GENIE_KEY) as opsgenie:
        paging = {
            "pagerduty_routing_key": ROUTING_KEY,
            "pagerduty_url": pagerduty.url,
            "opsgenie_api_key": GENIE_KEY,
            "opsgenie_url": opsgenie.url,
        }
        runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path / "data", "paging": paging}))
        now = clock.utcnow()
        with runtime.store.unit_of_work() as session:
            session.add(incident_row(INCIDENT, at=now, severity="critical", title="TikTok secret leaked"))
        try:
            yield Paged(runtime, pagerduty, opsgenie)
        finally:
            runtime.close()


def _kinds(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.store.unit_of_work() as session:
        return [
            (e.kind, e.data["provider"]) for e in entries(session, INCIDENT) if e.kind.startswith("page.")
        ]


def _resolve(runtime: Runtime) -> list[int]:
    """Resolve the incident; the outbox rows the resolution owes its pages."""
    with runtime.store.unit_of_work() as session:
        lifecycle.resolve_incident(
            session, incident_id=INCIDENT, summary="done", actor="cli:t", now=clock.utcnow()
        )
    with runtime.store.unit_of_work() as session:
        return list(session.scalars(select(OutboxRow.id).where(OutboxRow.topic == lifecycle.RESOLVED_TOPIC)))


def test_a_retry_pages_only_the_services_that_failed(paged: Paged) -> None:
    paged.pagerduty.fail_next(1)
    with pytest.raises(PagingFailed) as failed:
        flows.trigger_pages(paged.runtime, incident_id=INCIDENT, actor="playbook:t")
    assert failed.value.retryable
    again = flows.trigger_pages(paged.runtime, incident_id=INCIDENT, actor="playbook:t")
    assert again["opsgenie"] == "already" and again["pagerduty"]["status"] == "success"
    assert len(paged.opsgenie.requests) == 1
    assert [r.status for r in paged.pagerduty.requests] == [500, 202]
    assert _kinds(paged.runtime) == [("page.sent", "opsgenie"), ("page.sent", "pagerduty")]


def test_an_incident_no_longer_open_pages_nobody(paged: Paged) -> None:
    assert _resolve(paged.runtime) == []  # nobody was paged: the resolution owes no news
    assert flows.trigger_pages(paged.runtime, incident_id=INCIDENT, actor="playbook:t") == {}
    assert paged.pagerduty.requests == [] and paged.opsgenie.requests == []


def test_a_resolution_resolves_each_page_once(paged: Paged) -> None:
    flows.trigger_pages(paged.runtime, incident_id=INCIDENT, actor="playbook:t")
    [row_id] = _resolve(paged.runtime)
    flows.resolve_pages(paged.runtime, outbox_id=row_id)
    flows.resolve_pages(paged.runtime, outbox_id=row_id)  # a redelivery: the row is done
    key = flows.page_key(INCIDENT)
    assert paged.pagerduty.alerts[key]["status"] == "resolved"
    assert paged.opsgenie.alerts[key]["status"] == "closed"
    assert len(paged.pagerduty.requests) == len(paged.opsgenie.requests) == 2
    assert _kinds(paged.runtime)[2:] == [("page.resolved", "pagerduty"), ("page.resolved", "opsgenie")]
