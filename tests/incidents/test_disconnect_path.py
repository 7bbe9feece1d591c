"""The path from awareness to disconnect skips the broker: the worker that correlates a critical
event runs the engine pass and the kill switch itself, right after its own commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.config import load_settings
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.incidents.models import IncidentRow
from orchestrator.intake import service as intake
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.models import RunRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import service as switch
from orchestrator.worker import tasks
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import make_runtime
from tests.support.services import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def either_store(request: pytest.FixtureRequest, runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    """The embedded store, or a fresh PostgreSQL database (skip locked rows: a join of two tables)."""
    if request.param == "sqlite":
        yield runtime
        return
    with postgres_database() as url:
        other = make_runtime(load_settings(overrides={"data_dir": tmp_path / "pg", "database_url": url}))
        yield other
        other.close()


def test_correlating_a_critical_event_engages_the_kill_switch_before_it_returns(runtime: Runtime) -> None:
    now = clock.utcnow()
    event = CompromiseEvent(
        source="generic",
        kind="credential.leak",
        severity="critical",
        title="Client secret found on a public paste site",
        observed_at=now,
        received_at=now,
        dedup_key="paste-1",
    )  # type: ignore[arg-type]
    (outbox_id,) = intake.accept_events(runtime.store, [event], now=now)

    tasks.correlate_event(outbox_id)  # no worker consumes the broker in this test

    with runtime.store.unit_of_work() as session:
        assert switch.status(session).engaged
        incident = session.scalars(select(IncidentRow)).one()
        assert incident.disconnected_at is not None
        run = session.scalars(select(RunRow).where(RunRow.playbook_name == "tiktok-compromise")).one()
        steps = {k: v.status for k, v in runs.step_rows(session, run_id=run.id).items()}
        # the rest went to the broker, which nothing consumes here
        assert steps["disconnect"] == "succeeded" and steps["revoke"] == "running"
        sent = session.execute(select(OutboxRow.topic, OutboxRow.done_at, OutboxRow.dispatched_at)).all()
    done = sorted(topic for topic, done_at, _ in sent if done_at is not None)
    owed = sorted(topic for topic, done_at, dispatched in sent if done_at is None and dispatched is not None)
    assert done == ["event.received", "run.advance", "run.advance", "step.execute.switch"]
    assert "step.execute.revocation" in owed and "step.execute.switch" not in owed


def test_a_worker_correlates_the_owed_events_of_a_storm_in_one_commit(either_store: Runtime) -> None:
    """A storm's events all update one incident row: one at a time they queue on its lock."""
    runtime = either_store
    now = clock.utcnow()

    def event(key: str, n: int) -> CompromiseEvent:
        return CompromiseEvent(
            source="generic", kind="host.anomaly", severity="low", title=f"alert {n}",
            observed_at=now, received_at=now, dedup_key=key,
        )  # type: ignore[arg-type]  # fmt: skip

    storm = intake.accept_events(runtime.store, [event("storm", n) for n in range(50)], now=now)
    other = intake.accept_events(runtime.store, [event("other", n) for n in range(5)], now=now)

    tasks.correlate_event(storm[0])

    with runtime.store.unit_of_work() as session:
        incidents = {row.dedup_key: row.event_count for row in session.scalars(select(IncidentRow))}
        owed = session.scalars(select(OutboxRow.id).where(OutboxRow.done_at.is_(None))).all()
    assert incidents == {"storm": 50}  # every owed event of the key, counted once
    assert sorted(owed) == sorted(other)
    tasks.correlate_event(storm[7])  # its broker message arrives later: already done, dropped
    with runtime.store.unit_of_work() as session:
        assert session.scalars(select(IncidentRow)).one().event_count == 50
