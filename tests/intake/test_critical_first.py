"""Critical first: an event whose playbook engages the kill switch engages it when the intake
accepts it, however long the backlog of alerts before it; nothing accepted is lost and the events
of one incident are still correlated in the order they were accepted.

No worker runs while the events are posted, so the backlog stays owed; the test then correlates
it as a worker does (the task function, message by message) and checks what came of it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator.api.app import create_app
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.loader import parse_playbook
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch import flows as switch_flows
from orchestrator.switch import service as switch
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.worker import tasks
from orchestrator.worker.runtime import Runtime
from tests.incidents.test_disconnect_path import GATED
from tests.support.runtime import INTAKE_TOKEN
from tests.support.server import serve_app

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
BACKLOG = 2000
BREACH = {"title": "Attacker shell on api-7", "kind": "host.compromise", "dedup_key": "breach-api-7"}


def _post_all(url: str, events: list[dict[str, str]]) -> None:
    """Every event posted, from 8 keep-alive connections; each answered 202."""

    def post(share: list[dict[str, str]]) -> set[int]:
        with httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
            return {client.post("/v1/events", json=event).status_code for event in share}

    with ThreadPoolExecutor(8) as pool:
        assert set.union(*pool.map(post, [events[n::8] for n in range(8)])) == {202}


def _owed(rt: Runtime) -> list[int]:
    with rt.store.unit_of_work() as session:
        query = select(OutboxRow.id).where(OutboxRow.topic == EVENT_TOPIC, OutboxRow.done_at.is_(None))
        return list(session.scalars(query.order_by(OutboxRow.id)))


def _correlate_backlog(rt: Runtime) -> None:
    """As the worker does: the owed rows in the intake's order, a message of 100 at a time."""
    owed = _owed(rt)
    for at in range(0, len(owed), 100):
        tasks.correlate_event(rt, *owed[at : at + 100])
    assert _owed(rt) == []


def test_a_critical_event_behind_a_backlog_engages_the_switch_before_the_backlog_is_correlated(
    either_store: Runtime,
) -> None:
    rt = either_store
    early = [{**BREACH, "severity": "low", "title": f"Odd login on api-7 ({n})"} for n in range(3)]
    storm = [
        {"title": f"Port scan {n}", "kind": "network.scan", "severity": "low", "dedup_key": f"scan-{n}"}
        for n in range(BACKLOG)
    ]
    with serve_app(create_app(rt)) as url:
        _post_all(url, early)
        _post_all(url, storm)
        with rt.store.unit_of_work() as session:
            assert not switch.status(session).engaged  # low alerts never engage it
        with httpx.Client(base_url=url, timeout=60) as client:
            answer = client.post("/v1/events", json={**BREACH, "severity": "critical"}, headers=AUTH)
        assert answer.status_code == 202

    # The 202 came after the commit that engaged the switch; not one alert is correlated yet.
    assert len(_owed(rt)) == len(early) + BACKLOG + 1
    with rt.store.unit_of_work() as session:
        state = switch.status(session)
        assert state.engaged and state.by == "intake" and state.incident_id is None
        assert session.scalar(select(func.count()).select_from(IncidentRow)) == 0

    _correlate_backlog(rt)

    with rt.store.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(IncidentRow)) == BACKLOG + 1  # none lost
        breach = session.scalars(select(IncidentRow).where(IncidentRow.kind == "host.compromise")).one()
        accepted = list(
            session.scalars(
                select(EventRow.id)
                .join(OutboxRow, OutboxRow.ref_id == EventRow.id)
                .where(EventRow.incident_id == breach.id)
                .order_by(OutboxRow.id)
            )
        )
        story = timeline.entries(session, breach.id)
        after = switch.status(session)
    assert breach.severity == "critical" and breach.event_count == len(early) + 1
    # The incident's events in the order accepted: the low ones, then the critical one.
    assert [e.data["event_id"] for e in story if e.kind == kinds.EVENT_RECEIVED] == accepted
    # Its playbook found the switch engaged; the incident was disconnected when the intake engaged it.
    assert breach.disconnected_at == state.changed_at and breach.status == "contained"
    assert [e.data["already_engaged"] for e in story if e.kind == kinds.SWITCH_ENGAGED] == [True]
    assert after.version == state.version  # engaged once


def test_a_switch_released_for_an_incident_already_handled_stays_released(runtime: Runtime) -> None:
    with serve_app(create_app(runtime)) as url:
        _post_all(url, [{**BREACH, "severity": "critical"}])
        _correlate_backlog(runtime)
        switch_flows.release_switch(
            runtime.store, runtime.settings, by="alice", reason="contained; api-7 rebuilt"
        )
        # The same compromise reported again: its incident is open and its playbook has run, so
        # neither the intake nor the worker engages the switch again.
        _post_all(url, [{**BREACH, "severity": "critical", "title": "Attacker shell on api-7 (again)"}])
        with runtime.store.unit_of_work() as session:
            assert not switch.status(session).engaged
        _correlate_backlog(runtime)
        # A new compromise does.
        _post_all(url, [{**BREACH, "severity": "critical", "dedup_key": "breach-db-1"}])
    with runtime.store.unit_of_work() as session:
        state = switch.status(session)
        assert state.engaged and state.by == "intake"


CONDITIONAL = GATED.replace(
    "approval: {approvers: [any], timeout: 1h, on_timeout: deny}", "when: \"event.source == 'falco'\""
)


@pytest.mark.parametrize("text", [GATED, CONDITIONAL], ids=["approval", "when"])
def test_the_intake_leaves_a_switch_behind_an_approval_or_a_condition_to_the_playbook(
    runtime: Runtime, text: str
) -> None:
    book = parse_playbook(text, "p.yaml", registry=runtime.registry)
    runtime.playbooks = {book.name: book}
    with serve_app(create_app(runtime)) as url:
        _post_all(url, [{**BREACH, "severity": "critical"}])
    with runtime.store.unit_of_work() as session:
        assert not switch.status(session).engaged
