"""An incident's entity lists are bounded and their counts exact: a storm of distinct addresses
keeps the row small however long it lasts, and a value seen again is never counted twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.config import load_settings
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent, Entities, Severity
from orchestrator.incidents import entities, flows
from orchestrator.incidents.models import IncidentEntityRow, IncidentRow
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.services import postgres_database

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PER_EVENT = 250


@pytest.fixture(params=["sqlite", "postgresql"])
def on_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on the embedded store, and on a fresh PostgreSQL database."""
    overrides: dict[str, object] = {"data_dir": tmp_path / "data", "intake_token": INTAKE_TOKEN}
    overrides["api_token"] = API_TOKEN
    if request.param == "sqlite":
        runtime = make_runtime(load_settings(overrides=overrides))
        yield runtime
        runtime.close()
        return
    with postgres_database() as url:
        runtime = make_runtime(load_settings(overrides=overrides | {"database_url": url}))
        yield runtime
        runtime.close()


def _address(n: int) -> str:
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


def _scan(first: int, last: int) -> list[CompromiseEvent]:
    """Events of one storm naming addresses ``first`` to ``last - 1``, ``PER_EVENT`` each."""
    return [
        CompromiseEvent(
            source="generic",
            kind="network.scan",
            severity=Severity.LOW,
            title="port scan",
            observed_at=T0,
            received_at=T0,
            dedup_key="scan",
            entities=Entities(ips=[_address(n) for n in range(start, min(start + PER_EVENT, last))]),
        )
        for start in range(first, last, PER_EVENT)
    ]


def _correlate(runtime: Runtime, events: list[CompromiseEvent]) -> None:
    """Accept ``events`` as one message and correlate it as the worker does."""
    ids = intake.accept_events(runtime.store, events, now=T0)
    flows.process_received_events(runtime.transaction, outbox_ids=ids, window_seconds=3600, playbooks={})


def test_a_storm_of_distinct_addresses_keeps_the_row_bounded_and_the_count_exact(on_store: Runtime) -> None:
    distinct = 3 * entities.LIST_MAX
    _correlate(on_store, _scan(0, 1500))
    _correlate(on_store, _scan(1000, 2500))  # 500 seen in the message before
    _correlate(on_store, _scan(0, distinct) + _scan(2000, 2250))  # 500 new, the rest again
    with on_store.store.unit_of_work() as session:
        incident = session.scalars(select(IncidentRow)).one()
        recorded = session.scalar(select(func.count()).select_from(IncidentEntityRow))
    assert incident.event_count == 6 + 6 + 12 + 1
    assert incident.entity_counts == {"ips": distinct}
    assert incident.entities["ips"] == [_address(n) for n in range(entities.LIST_MAX)]
    assert {name: len(values) for name, values in incident.entities.items()} == {
        "hosts": 0,
        "ips": entities.LIST_MAX,
        "users": 0,
        "open_ids": 0,
        "client_keys": 0,
    }
    assert recorded == distinct
    assert incident.entity_totals()["ips"] == distinct
    assert len(json.dumps(incident.entities)) < 20 * entities.LIST_MAX  # whatever the storm's size
    assert incident.as_dict()["entity_counts"] == {"ips": distinct}
