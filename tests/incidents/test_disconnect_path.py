"""The path from awareness to disconnect skips the broker: the worker that correlates a critical
event starts the run and engages the kill switch in the commit that opens the incident."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.events import accept as intake
from orchestrator.events.models import EventRow
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.incidents import flows as incident_flows
from orchestrator.incidents import lifecycle
from orchestrator.incidents.models import IncidentRow
from orchestrator.intake.critical import CriticalFirst
from orchestrator.playbooks import decisions, flows
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.loader import parse_playbook
from orchestrator.playbooks.models import RunRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import service as switch
from orchestrator.switch.mirror import FILE_NAME, FileMirror
from orchestrator.timeline import service as timeline
from orchestrator.worker import tasks
from orchestrator.worker.runtime import Runtime
from tests.support.statements import recorded_statements


def _critical(key: str, now: datetime, severity: str = "critical") -> CompromiseEvent:
    return CompromiseEvent(
        source="generic",
        kind="credential.leak",
        severity=severity,
        title="Client secret found on a public paste site",
        observed_at=now,
        received_at=now,
        dedup_key=key,
    )


def test_correlating_a_critical_event_engages_the_kill_switch_in_the_same_commit(runtime: Runtime) -> None:
    now = clock.utcnow()
    (outbox_id,) = intake.accept_events(runtime.store, [_critical("paste-1", now)], now=now)

    tasks.correlate_event(runtime, outbox_id)  # no worker consumes the broker in this test

    with runtime.store.unit_of_work() as session:
        assert switch.status(session).engaged
        incident = session.scalars(select(IncidentRow)).one()
        run = session.scalars(select(RunRow).where(RunRow.playbook_name == "tiktok-compromise")).one()
        steps = {k: v.status for k, v in runs.step_rows(session, run_id=run.id).items()}
        sent = session.execute(select(OutboxRow.topic, OutboxRow.done_at, OutboxRow.dispatched_at)).all()
        story = [(e.kind, e.data.get("step")) for e in timeline.entries(session, incident.id)]
    assert incident.disconnected_at is not None and incident.status == "contained"
    # the rest went to the broker, which nothing consumes here
    assert steps["disconnect"] == "succeeded" and steps["revoke"] == "running"
    # one transaction: no engine pass and no switch step went through the outbox at all
    assert sorted(topic for topic, done_at, _ in sent if done_at is not None) == ["event.received"]
    topics = {topic for topic, _, _ in sent}
    assert "run.advance" not in topics and "step.execute.switch" not in topics
    assert "step.execute.revocation" in topics
    engaged = story.index(("switch.engaged", None))
    assert story[engaged - 1] == ("step.started", "disconnect")
    assert story[engaged + 1] == ("step.succeeded", "disconnect")
    assert story.index(("incident.opened", None)) < engaged < story.index(("step.started", "revoke"))
    mirror = FileMirror(runtime.settings.data_dir / FILE_NAME).read()
    assert mirror is not None and mirror["engaged"] is True  # the application's guard sees it


GATED = """
name: gated-disconnect
trigger: {match: {kinds: ["*"], min_severity: high}}
steps:
  - id: disconnect
    action: tiktok.kill_switch
    with: {reason: "{{ incident.title }}"}
    approval: {approvers: [any], timeout: 1h, on_timeout: deny}
"""


def test_a_kill_switch_step_behind_an_approval_waits_for_it(runtime: Runtime) -> None:
    runtime.playbooks = {"gated-disconnect": parse_playbook(GATED, "gated.yaml", registry=runtime.registry)}
    now = clock.utcnow()
    (outbox_id,) = intake.accept_events(runtime.store, [_critical("paste-2", now)], now=now)

    tasks.correlate_event(runtime, outbox_id)

    with runtime.store.unit_of_work() as session:
        assert not switch.status(session).engaged
        run = session.scalars(select(RunRow)).one()
        assert runs.step_rows(session, run_id=run.id)["disconnect"].status == "waiting_approval"
    decisions.decide_approval(
        runtime.transaction, run_id=run.id, step_id="disconnect", approve=True, actor="ana"
    )
    (advance_id,) = _owed(runtime, "run.advance")
    tasks.advance_run(runtime, advance_id)  # the pass after the approval does the step in its own commit
    with runtime.store.unit_of_work() as session:
        state = switch.status(session)
        assert state.engaged and state.by == "playbook:gated-disconnect"
        assert runs.step_rows(session, run_id=run.id)["disconnect"].status == "succeeded"
    assert _owed(runtime, "step.execute.switch") == []


def test_a_dry_run_engages_nothing(runtime: Runtime) -> None:
    now = clock.utcnow()
    low = _critical("paste-3", now, severity="low")  # no shipped playbook matches
    tasks.correlate_event(runtime, intake.accept_events(runtime.store, [low], now=now)[0])
    with runtime.store.unit_of_work() as session:
        incident_id = session.scalars(select(IncidentRow.id)).one()
    run_id = flows.start_manual_run(
        runtime.transaction,
        playbook=runtime.playbooks["tiktok-compromise"],
        given_inputs={},
        incident_id=incident_id,
        dry_run=True,
        actor="cli:ana",
    )
    (advance_id,) = _owed(runtime, "run.advance")
    tasks.advance_run(runtime, advance_id)
    with runtime.store.unit_of_work() as session:
        assert not switch.status(session).engaged
        row = runs.step_rows(session, run_id=run_id)["disconnect"]
    assert row.status == "succeeded" and row.output == {
        "dry_run": True, "action": "tiktok.kill_switch", "would_run": True,
    }  # fmt: skip


def _owed(runtime: Runtime, topic: str) -> list[int]:
    with runtime.store.unit_of_work() as session:
        return list(
            session.scalars(select(OutboxRow.id).where(OutboxRow.topic == topic, OutboxRow.done_at.is_(None)))
        )


def test_a_worker_correlates_the_owed_events_after_its_message_in_one_commit(
    either_store: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm's events all update one incident row: one message at a time they queue on its lock.
    The worker takes the owed rows after its message along (200 on PostgreSQL; on SQLite, whose
    one write lock the intake waits for, 32 rows in all), whatever their keys. (SQLite's write
    budget would cut a slow run's commit short; it is lifted here.)"""
    runtime = either_store
    monkeypatch.setattr(incident_flows, "SQLITE_WRITE_BUDGET", 60.0)
    now = clock.utcnow()

    def event(key: str, n: int) -> CompromiseEvent:
        return CompromiseEvent(
            source="generic", kind="host.anomaly", severity="low", title=f"alert {n}",
            observed_at=now, received_at=now, dedup_key=key,
        )  # fmt: skip

    storm = intake.accept_events(runtime.store, [event("storm", n) for n in range(50)], now=now)
    other = intake.accept_events(runtime.store, [event("other", n) for n in range(5)], now=now)

    tasks.correlate_event(runtime, storm[0])

    counted = {"storm": 32} if runtime.store.is_sqlite else {"storm": 50, "other": 5}
    with runtime.store.unit_of_work() as session:
        incidents = {row.dedup_key: row.event_count for row in session.scalars(select(IncidentRow))}
        owed = session.scalars(select(OutboxRow.id).where(OutboxRow.done_at.is_(None))).all()
    assert incidents == counted  # each owed event counted once
    assert sorted(owed) == (storm + other)[sum(counted.values()) :]
    tasks.correlate_event(runtime, storm[7])  # its broker message arrives later: already done, dropped
    for row in owed:
        tasks.correlate_event(runtime, row)
    with runtime.store.unit_of_work() as session:
        incidents = {row.dedup_key: row.event_count for row in session.scalars(select(IncidentRow))}
    assert incidents == {"storm": 50, "other": 5}


def test_matching_playbooks_to_new_incidents_reads_no_raw_body(runtime: Runtime) -> None:
    """A raw body can be a large alert group, and correlation does not read it; matching playbooks
    read none either (each read was a statement and a flush of its own, per incident opened). A
    run that starts reads its event's raw body: its templates may use it."""
    now = clock.utcnow()
    low = [_critical(f"raw-{n}", now, severity="low") for n in range(5)]  # no shipped playbook matches
    events = [event.model_copy(update={"raw": {"n": n}}) for n, event in enumerate(low)]
    ids = intake.accept_events(runtime.store, events, now=now)
    with recorded_statements(runtime.store.engine) as sent:
        tasks.correlate_event(runtime, *ids)
    assert not [s for s in sent if s.startswith("SELECT") and "events.raw" in s]
    with runtime.store.unit_of_work() as session:
        assert len(session.scalars(select(IncidentRow)).all()) == 5
        assert not session.scalars(select(RunRow)).all()
        assert sorted(e.raw["n"] for e in session.scalars(select(EventRow))) == list(range(5))


def test_a_critical_event_after_a_person_raised_the_incident_to_critical_still_disconnects(
    runtime: Runtime,
) -> None:
    """`/ir severity critical` makes the incident critical before any critical event: the event
    that then arrives raises nothing, yet the critical playbooks must still run for it."""
    now = clock.utcnow()
    tasks.correlate_event(
        runtime, intake.accept_events(runtime.store, [_critical("raised", now, "medium")], now=now)[0]
    )
    with runtime.transaction() as session:
        incident = session.scalars(select(IncidentRow)).one()
        lifecycle.set_severity(
            session, incident_id=incident.id, severity=Severity.CRITICAL, actor="slack:U0LEAD", now=now
        )
    with runtime.store.unit_of_work() as session:
        assert not switch.status(session).engaged  # a person's raise starts no playbook by itself

    tasks.correlate_event(
        runtime, intake.accept_events(runtime.store, [_critical("raised", now)], now=now)[0]
    )

    with runtime.store.unit_of_work() as session:
        assert switch.status(session).engaged
        assert session.scalars(select(RunRow).where(RunRow.playbook_name == "tiktok-compromise")).one()


def test_entries_carry_when_things_happened_not_when_a_busy_worker_got_to_them(runtime: Runtime) -> None:
    """A critical event received five seconds before a backlogged worker correlates it: the
    intake engaged the switch at once (critical first); the timeline says when the event came and
    when the switch was engaged, not when the worker got there, and its times never run back."""
    received = clock.utcnow() - timedelta(seconds=5)
    critical_first = CriticalFirst(runtime.settings, runtime.playbooks)
    (outbox_id,) = intake.accept_events(
        runtime.store, [_critical("paste-late", received)], now=received, before_commit=critical_first
    )
    with runtime.store.unit_of_work() as session:
        engaged_at = switch.status(session).changed_at
    assert engaged_at is not None and engaged_at >= received

    tasks.correlate_event(runtime, outbox_id)

    with runtime.store.unit_of_work() as session:
        incident = session.scalars(select(IncidentRow)).one()
        entries = timeline.entries(session, incident.id)
    story = {entry.kind: entry for entry in reversed(entries)}  # the first of each kind
    assert [entry.kind for entry in entries[:2]] == ["event.received", "incident.opened"]
    assert story["event.received"].at == received == incident.aware_at
    assert story["incident.opened"].at >= received + timedelta(seconds=5)  # the worker opened it then
    assert incident.disconnected_at == engaged_at
    engaged = story["switch.engaged"]
    assert engaged.data["engaged_at"] == engaged_at.isoformat(timespec="microseconds")
    assert engaged.message.startswith(
        f"kill switch already engaged since {engaged_at.isoformat(timespec='milliseconds')} by intake: "
    )
    times = [entry.at for entry in entries]
    assert times == sorted(times)


def test_a_critical_storms_repeats_cost_the_same_statements_whether_three_or_thirty(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real compromise is a storm of critical alerts. Each repeat may start what matches it
    (once per incident and playbook), but once its message has seen the incident's runs, a
    repeat reads and locks nothing more: 10,000 critical alerts took 15 s to correlate on
    PostgreSQL when every one looked its runs up again, against 1 s before. (SQLite's write
    budget would cut a slow run's commit short; it is lifted here.)"""
    monkeypatch.setattr(incident_flows, "SQLITE_WRITE_BUDGET", 60.0)
    now = clock.utcnow()
    first = intake.accept_events(runtime.store, [_critical("storm", now)], now=now)
    tasks.correlate_event(runtime, *first)  # opens the incident and starts its playbooks

    def statements(repeats: int) -> list[str]:
        alerts = [_critical("storm", now) for _ in range(repeats)]
        ids = intake.accept_events(runtime.store, alerts, now=now)
        with recorded_statements(runtime.store.engine) as sent:
            tasks.correlate_event(runtime, *ids)
        return sent

    few, many = statements(3), statements(30)
    assert len(many) == len(few), [s.split("\n")[0] for s in many]
    with runtime.store.unit_of_work() as session:
        assert session.scalars(select(IncidentRow.event_count)).one() == 34
        runs = session.scalars(select(RunRow).where(RunRow.playbook_name == "tiktok-compromise")).all()
        assert len(runs) == 1
