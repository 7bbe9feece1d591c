"""The switch's store functions: every change on the timeline, release only with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.incidents.models import IncidentRow
from orchestrator.switch import service
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN
from orchestrator.worker.runtime import Runtime

AWARE = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _incident(runtime: Runtime, incident_id: str = "inc-1") -> str:
    with runtime.store.unit_of_work() as session:
        session.add(
            IncidentRow(
                id=incident_id,
                dedup_key=f"key-{incident_id}",
                title="Build host compromised",
                kind="host.compromise",
                severity="critical",
                source="generic",
                aware_at=AWARE,
                last_event_at=AWARE,
            )
        )
    return incident_id


def _kinds_and_data(runtime: Runtime, chain: str) -> list[tuple[str, dict[str, object]]]:
    with runtime.store.unit_of_work() as session:
        return [(row.kind, row.data) for row in timeline.entries(session, chain)]


def test_a_fresh_store_has_a_released_switch_at_version_zero(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        state = service.status(session)
    assert (state.engaged, state.version, state.by, state.changed_at) == (False, 0, None, None)


def test_engage_and_release_each_write_one_timeline_entry_on_the_system_chain(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        engaged = service.engage(session, by="alice", reason="drill")
    with runtime.store.unit_of_work() as session:
        released = service.release(session, by="bob", reason="drill over", approved_by="carol")
    assert (engaged.changed, engaged.state.engaged, engaged.state.version) == (True, True, 1)
    assert (released.changed, released.state.engaged, released.state.version) == (True, False, 2)
    assert _kinds_and_data(runtime, SYSTEM_CHAIN) == [
        (
            kinds.SWITCH_ENGAGED,
            {"by": "alice", "reason": "drill", "approved_by": None, "already_engaged": False, "version": 1},
        ),
        (kinds.SWITCH_RELEASED, {"by": "bob", "reason": "drill over", "approved_by": "carol", "version": 2}),
    ]
    with runtime.store.unit_of_work() as session:
        assert timeline.verify_chain(session, SYSTEM_CHAIN) is None
        now = service.status(session)
    assert (now.engaged, now.by, now.reason, now.approved_by) == (False, "bob", "drill over", "carol")


@pytest.mark.parametrize("reason", ["", "   "])
def test_release_without_a_reason_is_refused_and_changes_nothing(runtime: Runtime, reason: str) -> None:
    with runtime.store.unit_of_work() as session:
        service.engage(session, by="alice", reason="compromise")
    with pytest.raises(ValidationFailed) as caught, runtime.store.unit_of_work() as session:
        service.release(session, by="bob", reason=reason)
    assert caught.value.field == "reason"
    with runtime.store.unit_of_work() as session:
        assert service.status(session).engaged is True
        assert [row.kind for row in timeline.entries(session, SYSTEM_CHAIN)] == [kinds.SWITCH_ENGAGED]


def test_engaging_for_an_incident_sets_disconnected_at_once_and_records_on_its_chain(
    runtime: Runtime,
) -> None:
    incident_id = _incident(runtime)
    with runtime.store.unit_of_work() as session:
        first = service.engage(session, by="playbook", reason="compromise", incident_id=incident_id)
    with runtime.store.unit_of_work() as session:
        again = service.engage(session, by="playbook", reason="second signal", incident_id=incident_id)
        incident = session.get(IncidentRow, incident_id)
        assert incident is not None
        disconnected_at = incident.disconnected_at
    assert disconnected_at == first.state.changed_at
    assert (again.changed, again.state.version, again.state.incident_id) == (False, 1, incident_id)
    assert [(kind, data["already_engaged"]) for kind, data in _kinds_and_data(runtime, incident_id)] == [
        (kinds.SWITCH_ENGAGED, False),
        (kinds.SWITCH_ENGAGED, True),
    ]
    assert _kinds_and_data(runtime, SYSTEM_CHAIN) == []


def test_a_second_incident_gets_its_own_disconnected_at_when_the_switch_is_already_engaged(
    runtime: Runtime,
) -> None:
    first, second = _incident(runtime, "inc-1"), _incident(runtime, "inc-2")
    with runtime.store.unit_of_work() as session:
        service.engage(session, by="playbook", reason="first", incident_id=first)
    with runtime.store.unit_of_work() as session:
        change = service.engage(session, by="playbook", reason="second", incident_id=second)
        incident = session.get(IncidentRow, second)
        assert incident is not None and incident.disconnected_at is not None
    assert change.changed is False


def test_engaging_for_an_unknown_incident_fails_before_any_change(runtime: Runtime) -> None:
    with pytest.raises(NotFound), runtime.store.unit_of_work() as session:
        service.engage(session, by="playbook", reason="x", incident_id="missing")
    with runtime.store.unit_of_work() as session:
        assert service.status(session).engaged is False


def test_releasing_a_released_switch_records_nothing(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        change = service.release(session, by="bob", reason="nothing to release")
    assert (change.changed, change.state.version) == (False, 0)
    assert _kinds_and_data(runtime, SYSTEM_CHAIN) == []


def test_a_token_pasted_into_the_reason_is_masked_in_the_row_and_the_timeline(runtime: Runtime) -> None:
    with runtime.store.unit_of_work() as session:
        change = service.engage(session, by="alice", reason="leaked access_token=act.abcdef1234567890XYZ")
    assert "act.abcdef1234567890XYZ" not in (change.state.reason or "")
    ((_kind, data),) = _kinds_and_data(runtime, SYSTEM_CHAIN)
    assert "act.abcdef1234567890XYZ" not in str(data)
