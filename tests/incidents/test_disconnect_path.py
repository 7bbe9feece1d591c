"""The path from awareness to disconnect skips the broker: the worker that correlates a critical
event runs the engine pass and the kill switch itself, right after its own commit."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator import clock
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.incidents.models import IncidentRow
from orchestrator.intake import service as intake
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.models import RunRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import service as switch
from orchestrator.worker import tasks
from orchestrator.worker.runtime import Runtime


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
