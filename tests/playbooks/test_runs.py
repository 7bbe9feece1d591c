"""Playbook runs on the real broker: order, parallel, conditions, retries, timeouts, failures,
approvals, dry runs and cancels, each visible on the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.playbooks import decisions, flows, service
from orchestrator.timeline import service as timeline
from tests.support.engine import Engine, running_engine
from tests.support.processes import wait_for
from tests.support.receiver import Receiver, receiver

PLAYBOOKS = {
    "portal": """
name: portal
trigger: {manual: {}}
steps:
  - id: file_report
    action: manual
    with:
      title: File the report in TikTok's developer support form
      instructions: Quote the log_ids from the timeline.
      input: ticket_id
      remind_every: 0.3s
  - {id: after, action: note, with: {message: "ticket {{ steps.file_report.output.input.ticket_id }}"}}
""",
    "on-compromise": """
name: on-compromise
trigger: {match: {kinds: ["host.*"], min_severity: high}}
steps:
  - {id: record, action: note, with: {message: "containing {{ incident.id }} after {{ event.title }}"}}
""",
    "sequence": """
name: sequence
trigger: {manual: {inputs: {who: {type: string, default: world}}}}
steps:
  - {id: first, action: note, with: {message: "hello {{ inputs.who }}"}}
  - {id: second, action: note, with: {message: "after {{ steps.first.output.message }}"}}
""",
    "fanout": """
name: fanout
trigger: {manual: {inputs: {url: {type: string, required: true}}}}
steps:
  - parallel:
      id: both
      steps:
        - {id: left, action: http.post, with: {url: "{{ inputs.url }}/left", json: {side: left}}}
        - {id: right, action: http.post, with: {url: "{{ inputs.url }}/right", json: {side: right}}}
  - {id: joined, action: note, with: {message: "both answered"}}
""",
    "conditional": """
name: conditional
trigger: {manual: {inputs: {loud: {type: bool, default: false}}}}
steps:
  - {id: shout, action: note, when: "{{ inputs.loud }}", with: {message: LOUD}}
  - {id: always, action: note, with: {message: quiet}}
""",
    "flaky": """
name: flaky
trigger: {manual: {inputs: {url: {type: string, required: true}}}}
steps:
  - id: call
    action: http.post
    with: {url: "{{ inputs.url }}/hook", json: {n: 1}}
    retry: {attempts: 3, backoff: 0.1}
""",
    "slow": """
name: slow
trigger: {manual: {}}
steps:
  - {id: nap, action: wait, with: {seconds: 30}, timeout: 0.5}
  - {id: never, action: note, with: {message: unreachable}}
""",
    "failing": """
name: failing
trigger:
  manual:
    inputs: {url: {type: string, required: true}, mode: {type: choice, choices: [continue, handle]}}
steps:
  - id: bad
    action: http.post
    with: {url: "{{ inputs.url }}/bad", json: {}}
    on_failure: {run: [cleanup], then: continue}
  - {id: after, action: note, with: {message: "went on"}}
handlers:
  - {id: cleanup, action: note, with: {message: "cleaned up after {{ steps.bad.error }}"}}
""",
    "gated": """
name: gated
trigger: {manual: {inputs: {url: {type: string, required: true}}}}
steps:
  - id: disconnect
    action: http.post
    with: {url: "{{ inputs.url }}/disconnect", json: {}}
    approval: {approvers: [any], timeout: 1.5s, on_timeout: deny}
""",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with running_engine(tmp_path_factory.mktemp("engine"), PLAYBOOKS) as running:
        yield running


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def test_sequential_steps_run_in_order_with_templates(engine: Engine) -> None:
    run_id = engine.start("sequence", who="on-call")
    assert engine.finished(run_id)["status"] == "succeeded"
    with engine.runtime.store.unit_of_work() as session:
        notes = [e.message for e in timeline.entries(session, run_id) if e.kind == "note"]
    assert notes == ["hello on-call", "after hello on-call"]
    assert engine.kinds(run_id) == [
        "run.started",
        "step.started",
        "note",
        "step.succeeded",
        "step.started",
        "note",
        "step.succeeded",
        "run.finished",
    ]


def test_parallel_block_runs_both_then_joins(engine: Engine, hooks: Receiver) -> None:
    run_id = engine.start("fanout", url=hooks.url)
    result = engine.finished(run_id)
    assert result["status"] == "succeeded"
    assert sorted(c["path"] for c in hooks.calls) == ["/left", "/right"]
    assert result["steps"] == {"left": "succeeded", "right": "succeeded", "joined": "succeeded"}


def test_false_condition_skips_the_step(engine: Engine) -> None:
    run_id = engine.start("conditional", loud=False)
    assert engine.finished(run_id)["steps"] == {"shout": "skipped", "always": "succeeded"}


def test_retry_then_success(engine: Engine, hooks: Receiver) -> None:
    hooks.statuses[:] = [503, 500]
    run_id = engine.start("flaky", url=hooks.url)
    result = engine.finished(run_id)
    assert (result["status"], result["detail"]["call"]["attempt"]) == ("succeeded", 3)
    assert len(hooks.calls) == 3
    assert engine.kinds(run_id).count("step.retry") == 2


def test_step_past_its_timeout_fails_the_run(engine: Engine) -> None:
    run_id = engine.start("slow")
    result = engine.finished(run_id)
    assert result["steps"] == {"nap": "timed_out", "never": "cancelled"}
    assert result["status"] == "failed"


def test_on_failure_runs_handler_then_continues(engine: Engine, hooks: Receiver) -> None:
    hooks.statuses[:] = [400]
    run_id = engine.start("failing", url=hooks.url, mode="handle")
    result = engine.finished(run_id)
    assert result["status"] == "succeeded"
    assert result["steps"] == {"bad": "failed", "after": "succeeded", "cleanup": "succeeded"}


def test_approval_approved_runs_the_step(engine: Engine, hooks: Receiver) -> None:
    run_id = engine.start("gated", url=hooks.url)
    engine.wait(run_id, lambda r: r["steps"]["disconnect"] == "waiting_approval", "the approval request")
    assert hooks.calls == []
    decisions.decide_approval(
        engine.runtime.transaction, run_id=run_id, step_id="disconnect", approve=True, actor="cli:alice"
    )
    assert engine.finished(run_id)["status"] == "succeeded"
    assert len(hooks.calls) == 1
    with engine.runtime.store.unit_of_work() as session:
        decided = [e for e in timeline.entries(session, run_id) if e.kind == "approval.decided"]
    assert decided[0].data["by"] == "cli:alice" and decided[0].data["decision"] == "approved"


def test_approval_denied_fails_and_calls_nothing(engine: Engine, hooks: Receiver) -> None:
    run_id = engine.start("gated", url=hooks.url)
    engine.wait(run_id, lambda r: r["steps"]["disconnect"] == "waiting_approval", "the approval request")
    decisions.decide_approval(
        engine.runtime.transaction, run_id=run_id, step_id="disconnect", approve=False, actor="cli:bob"
    )
    assert engine.finished(run_id)["status"] == "failed"
    assert hooks.calls == []


def test_approval_timeout_applies_on_timeout(engine: Engine, hooks: Receiver) -> None:
    run_id = engine.start("gated", url=hooks.url)
    result = engine.finished(run_id)
    assert result["status"] == "failed"
    assert result["detail"]["disconnect"]["approval_by"] == "system:timeout"
    assert hooks.calls == []


def test_dry_run_resolves_everything_and_calls_nothing(engine: Engine, hooks: Receiver) -> None:
    run_id = engine.start("gated", dry_run=True, url=hooks.url)
    result = engine.finished(run_id)
    assert result["status"] == "succeeded"
    assert result["detail"]["disconnect"]["output"] == {
        "dry_run": True,
        "action": "http.post",
        "would_run": True,
    }
    assert hooks.calls == []


def test_cancel_stops_the_run(engine: Engine) -> None:
    slow = engine.start("slow")
    engine.wait(slow, lambda r: r["steps"]["nap"] == "running", "the wait to start")
    flows.cancel_run(engine.runtime.transaction, run_id=slow, actor="cli:tester")
    result = engine.run(slow)
    assert result["status"] == "cancelled" and result["steps"]["never"] == "cancelled"


def test_rerun_a_failed_step(engine: Engine, hooks: Receiver) -> None:
    hooks.statuses[:] = [503, 503, 503]
    run_id = engine.start("flaky", url=hooks.url)
    assert engine.finished(run_id)["status"] == "failed"
    flows.rerun_step(engine.runtime.transaction, run_id=run_id, step_id="call", actor="cli:tester")
    assert engine.finished(run_id)["status"] == "succeeded"
    assert len(hooks.calls) == 4


def _post(engine: Engine, severity: str, key: str = "web-1") -> None:
    from orchestrator import clock
    from orchestrator.events import accept as intake
    from orchestrator.events.schemas import CompromiseEvent

    now = clock.utcnow()
    event = CompromiseEvent(
        source="generic",
        kind="host.compromise",
        severity=severity,
        title=f"{severity} on web-1",
        observed_at=now,
        received_at=now,
        dedup_key=key,
    )
    ids = intake.accept_events(engine.runtime.store, [event], now=now)
    from orchestrator.worker.app import publisher

    intake.dispatch_now(engine.runtime.store, publisher(engine.runtime.celery), ids, now=now)


def test_incident_starts_each_matching_playbook_once(engine: Engine) -> None:
    from orchestrator.incidents import service as incidents

    _post(engine, "medium", key="escalating")  # below min_severity: no run

    def opened() -> bool:
        with engine.runtime.store.unit_of_work() as session:
            return any(i.dedup_key == "escalating" for i in incidents.list_incidents(session))

    wait_for(opened, timeout=20, what="the medium incident")
    _post(engine, "critical", key="escalating")  # escalation: the playbook now matches
    _post(engine, "critical", key="escalating")  # same incident again: no second run

    def runs() -> list[dict[str, Any]] | None:
        with engine.runtime.store.unit_of_work() as session:
            rows = [r.as_dict() for r in service.list_runs(session) if r.playbook_name == "on-compromise"]
            done = [
                i
                for i in incidents.list_incidents(session)
                if i.dedup_key == "escalating" and i.event_count == 3
            ]
        return rows if done and rows and rows[0]["status"] == "succeeded" else None

    found = wait_for(runs, timeout=20, what="one finished run for the escalated incident")
    assert len(found) == 1
    incident_id = found[0]["incident_id"]
    with engine.runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, incident_id)
    kinds = [e.kind for e in entries]
    ours = [e for e in entries if e.kind == "run.started" and e.data["playbook"] == "on-compromise"]
    notes = [e.message for e in entries if e.kind == "note" and e.actor == "playbook:on-compromise"]
    assert "incident.escalated" in kinds and len(ours) == 1
    assert notes == [f"containing {incident_id} after critical on web-1"]


def test_manual_step_waits_reminds_and_needs_its_input(engine: Engine) -> None:
    from orchestrator.errors import ValidationFailed

    run_id = engine.start("portal")
    engine.wait(run_id, lambda r: r["steps"]["file_report"] == "waiting_approval", "the manual step")
    wait_for(lambda: "manual.reminder" in engine.kinds(run_id), timeout=20, what="a reminder")
    with pytest.raises(ValidationFailed, match="needs its ticket_id: add --input ticket_id=VALUE"):
        decisions.complete_manual_step(
            engine.runtime.transaction, run_id=run_id, step_id="file_report", actor="cli:alice", inputs={}
        )
    decisions.complete_manual_step(
        engine.runtime.transaction,
        run_id=run_id,
        step_id="file_report",
        actor="cli:alice",
        inputs={"ticket_id": "TT-48213"},
    )
    result = engine.finished(run_id)
    assert result["status"] == "succeeded"
    assert result["detail"]["file_report"]["output"] == {
        "completed_by": "cli:alice",
        "input": {"ticket_id": "TT-48213"},
    }
    with engine.runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, run_id)
    completed = [e for e in entries if e.kind == "manual.completed"]
    assert completed[0].actor == "cli:alice" and completed[0].data["input"] == {"ticket_id": "TT-48213"}
    assert [e.message for e in entries if e.kind == "note"] == ["ticket TT-48213"]
