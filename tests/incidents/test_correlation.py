"""Correlation: one incident per dedup key within the window; storms cost bounded work."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy import select

from orchestrator.events import accept as intake
from orchestrator.events.models import EventRow
from orchestrator.events.schemas import CompromiseEvent, Entities, Severity
from orchestrator.incidents import flows
from orchestrator.incidents.flows import EVENTS_RECORDED_IN_FULL, correlate_event
from orchestrator.incidents.models import IncidentRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.store.turns import WriteTurns
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.statements import recorded_statements

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _event(
    key: str = "k1", severity: Severity = Severity.HIGH, status: str = "firing", **kw: object
) -> EventRow:
    event = CompromiseEvent(
        source="generic",
        kind="host.compromise",
        severity=severity,
        title=f"alert {key}",
        observed_at=T0,
        received_at=T0,
        dedup_key=key,
        status=status,
        entities=Entities(**kw),
    )
    return EventRow.from_event(event)


def _correlate(runtime: Runtime, row: EventRow, at: datetime, window: int = 3600) -> str:
    with runtime.store.unit_of_work() as session:
        session.add(row)
        return correlate_event(session, event=row, now=at, window_seconds=window).incident_id


def test_same_key_within_window_is_one_incident(runtime: Runtime) -> None:
    first = _correlate(runtime, _event(hosts=["a"]), T0)
    second = _correlate(runtime, _event(hosts=["b"]), T0 + timedelta(minutes=5))
    assert first == second
    with runtime.store.unit_of_work() as session:
        incident = session.get(IncidentRow, first)
        assert incident is not None
        assert (incident.event_count, incident.entities["hosts"]) == (2, ["a", "b"])
        assert incident.aware_at == T0


def test_same_key_after_window_opens_a_new_incident(runtime: Runtime) -> None:
    first = _correlate(runtime, _event(), T0, window=60)
    second = _correlate(runtime, _event(), T0 + timedelta(seconds=61), window=60)
    assert first != second


def test_closed_incident_is_not_reopened(runtime: Runtime) -> None:
    first = _correlate(runtime, _event(), T0)
    with runtime.store.unit_of_work() as session:
        incident = session.get(IncidentRow, first)
        assert incident is not None
        incident.status = "closed"
    assert _correlate(runtime, _event(), T0 + timedelta(seconds=1)) != first


def test_higher_severity_escalates_and_is_recorded(runtime: Runtime) -> None:
    incident_id = _correlate(runtime, _event(severity=Severity.MEDIUM), T0)
    _correlate(runtime, _event(severity=Severity.CRITICAL), T0 + timedelta(seconds=1))
    with runtime.store.unit_of_work() as session:
        kinds = [e.kind for e in timeline.entries(session, incident_id)]
        incident = session.get(IncidentRow, incident_id)
        assert incident is not None and incident.severity == "critical"
    assert kinds == ["event.received", "incident.opened", "event.received", "incident.escalated"]


def test_resolved_signal_is_recorded_and_keeps_incident_open(runtime: Runtime) -> None:
    incident_id = _correlate(runtime, _event(), T0)
    _correlate(runtime, _event(status="resolved"), T0 + timedelta(seconds=1))
    with runtime.store.unit_of_work() as session:
        incident = session.get(IncidentRow, incident_id)
        assert incident is not None and incident.status == "detected"
        assert [e.kind for e in timeline.entries(session, incident_id)][-1] == "event.resolved"


def test_storm_collapses_into_one_incident_with_bounded_timeline(runtime: Runtime) -> None:
    ids = {_correlate(runtime, _event(), T0 + timedelta(milliseconds=i)) for i in range(60)}
    assert len(ids) == 1
    with runtime.store.unit_of_work() as session:
        incident = session.scalars(select(IncidentRow)).one()
        assert incident.event_count == 60
        assert timeline.count(session, incident.id) == 1 + EVENTS_RECORDED_IN_FULL


def _low(key: str) -> CompromiseEvent:
    return CompromiseEvent(source="generic", kind="host.compromise", severity=Severity.LOW,
                           title=f"alert {key}", observed_at=T0, received_at=T0, dedup_key=key)  # fmt: skip


def _statements_to_correlate(runtime: Runtime, keys: list[str]) -> int:
    """Accept one event per key as one message, correlate it as the worker does; count statements."""
    ids = intake.accept_events(runtime.store, [_low(k) for k in keys], now=T0)
    with recorded_statements(runtime.store.engine) as sent:
        flows.process_received_events(runtime.transaction, outbox_ids=ids, window_seconds=3600, playbooks={})
    return len(sent)


def test_a_message_costs_the_same_statements_whether_it_carries_three_events_or_thirty(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys, incidents and timeline tails are locked and read for the whole message, and its rows
    written a statement per table: under load the intake's messages grow, not the worker's cost
    per event. (SQLite's write budget would split a slow run's message; it is lifted here.)"""
    monkeypatch.setattr(flows, "SQLITE_WRITE_BUDGET", 60.0)
    few, many = [f"few-{i}" for i in range(3)], [f"many-{i}" for i in range(30)]
    _statements_to_correlate(runtime, few)  # open their incidents; then each event attaches
    _statements_to_correlate(runtime, many)
    assert _statements_to_correlate(runtime, many) == _statements_to_correlate(runtime, few)
    with runtime.store.unit_of_work() as session:
        incidents = list(session.scalars(select(IncidentRow)))
        assert len(incidents) == 33 and {i.event_count for i in incidents} == {2}
        assert all(timeline.verify_chain(session, i.id) is None for i in incidents)
        assert {timeline.count(session, i.id) for i in incidents} == {3}  # opened, then each event


def test_a_commit_cut_short_still_correlates_its_own_message_first(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Owed rows after a message are only taken along: when SQLite's budget ends a commit after
    one event, that event is the message's own, and the message is done before its task ends
    (a single event whose commit went to an owed row of an earlier-sorting key was left undone)."""
    monkeypatch.setattr(flows, "SQLITE_WRITE_BUDGET", 0.0)

    def accept(key: str) -> list[int]:
        return intake.accept_events(runtime.store, [_low(key)], now=T0)

    (mine,) = accept("zz-late-key")
    owed = [accept(f"aa-{n}")[0] for n in range(3)]  # accepted after it, their keys sort first

    flows.process_received_events(runtime.transaction, outbox_ids=[mine], window_seconds=3600, playbooks={})

    with runtime.store.unit_of_work() as session:
        done = {row.id for row in session.scalars(select(OutboxRow).where(OutboxRow.done_at.is_not(None)))}
    assert mine in done and not done - {mine, *owed}


def _message(runtime: Runtime, *events: CompromiseEvent) -> list[str]:
    """Accept ``events`` as one message and correlate it as the worker does; the statements sent."""
    ids = intake.accept_events(runtime.store, list(events), now=T0)
    with recorded_statements(runtime.store.engine) as sent:
        flows.process_received_events(runtime.transaction, outbox_ids=ids, window_seconds=3600, playbooks={})
    return sent


def test_a_storm_incident_past_its_first_events_costs_its_messages_no_timeline_statement(
    runtime: Runtime,
) -> None:
    """Past its first events an incident is only counted: its messages neither lock nor read its
    timeline's tail (two of a worker's dozen statements per message)."""
    for _ in range(EVENTS_RECORDED_IN_FULL):
        _message(runtime, _low("storm"))
    sent = _message(runtime, _low("storm"), _low("storm"))
    assert not [s for s in sent if "timeline_entries" in s or "advisory" in s]
    with runtime.store.unit_of_work() as session:
        incident = session.scalars(select(IncidentRow)).one()
        assert incident.event_count == EVENTS_RECORDED_IN_FULL + 2
        assert timeline.count(session, incident.id) == 1 + EVENTS_RECORDED_IN_FULL


def test_a_resolved_or_higher_severity_event_after_the_first_events_is_still_recorded(
    runtime: Runtime,
) -> None:
    for _ in range(EVENTS_RECORDED_IN_FULL + 2):
        _message(runtime, _low("storm"))
    resolved = _low("storm").model_copy(update={"status": "resolved"})
    higher = _low("storm").model_copy(update={"severity": Severity.HIGH})
    _message(runtime, resolved, _low("storm"), higher)
    with runtime.store.unit_of_work() as session:
        incident = session.scalars(select(IncidentRow)).one()
        kinds = [e.kind for e in timeline.entries(session, incident.id)]
        assert incident.severity == "high" and incident.event_count == EVENTS_RECORDED_IN_FULL + 5
        assert kinds[1 + EVENTS_RECORDED_IN_FULL :] == ["event.resolved", "incident.escalated"]
        assert timeline.verify_chain(session, incident.id) is None


def test_a_storm_from_many_addresses_keeps_every_address_once_in_first_seen_order(runtime: Runtime) -> None:
    """The incident's lists grow in place (an event costs its own entities, not the incident's);
    each event keeps exactly its own."""

    def from_address(n: int) -> CompromiseEvent:
        return _low("scan").model_copy(update={"entities": Entities(ips=[f"10.0.{n // 256}.{n % 256}"])})

    _message(runtime, *(from_address(n) for n in range(30)))
    _message(runtime, *(from_address(n) for n in range(20, 60)), from_address(5))
    with runtime.store.unit_of_work() as session:
        incident = session.scalars(select(IncidentRow)).one()
        assert incident.entities["ips"] == [f"10.0.{n // 256}.{n % 256}" for n in range(60)]
        assert set(incident.entities) == {"hosts", "ips", "users", "open_ids", "client_keys"}
        events = list(session.scalars(select(EventRow)))
        assert len(events) == 71 and all(len(e.entities["ips"]) == 1 for e in events)


def test_a_waiting_intake_is_let_in_after_a_few_events_not_after_each(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the intake waits for SQLite's write lock a worker commits early, but only once a
    commit has carried ``SQLITE_MIN_EVENTS``: at one event a commit, its claims, locks and commit
    cost as much as the events, and under a sustained load the worker fell behind."""
    monkeypatch.setattr(flows, "SQLITE_WRITE_BUDGET", 60.0)
    intake_turns = WriteTurns(runtime.store.url.split("///", 1)[-1])  # as the intake's process opens it
    waiting, let_in = threading.Event(), threading.Event()
    intakes: list[threading.Thread] = []

    def intake_waits_for_the_lock() -> None:
        with intake_turns.ahead(), intake_turns.turn():
            waiting.set()
            let_in.wait(5)

    def worker_began(_conn: object) -> None:  # the intake asks for the lock as each commit begins
        waiting.clear()
        let_in.clear()
        intakes.append(threading.Thread(target=intake_waits_for_the_lock))
        intakes[-1].start()
        assert waiting.wait(5)

    def worker_commits(_conn: object) -> None:
        let_in.set()

    ids = intake.accept_events(runtime.store, [_low(f"key-{n}") for n in range(20)], now=T0)
    sqlalchemy.event.listen(runtime.store.engine, "begin", worker_began)
    sqlalchemy.event.listen(runtime.store.engine, "commit", worker_commits)
    try:
        with recorded_statements(runtime.store.engine) as sent:
            results = flows.process_received_events(
                runtime.transaction, outbox_ids=ids, window_seconds=3600, playbooks={}
            )
    finally:
        sqlalchemy.event.remove(runtime.store.engine, "begin", worker_began)
        sqlalchemy.event.remove(runtime.store.engine, "commit", worker_commits)
        let_in.set()
        for thread in intakes:
            thread.join()
        intake_turns.close()
    assert len(results) == 20 and all(r.opened for r in results)
    assert sent.count("BEGIN IMMEDIATE") == 3  # 8 + 8 + 4 events, not 20 commits of one
