"""A step stopped by its own timeout is recorded ``timed_out``, however late the run's advance.

The worker's action stops at the step's deadline (the ``wait`` action raises "wait cancelled");
on a loaded machine that outcome could reach the store before the advance that records the
timeout, and the step was recorded ``failed`` instead. Here the outbox is driven by hand, so the
worker's outcome always comes first."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.playbooks import execute, flows
from orchestrator.playbooks.loader import parse_playbook
from orchestrator.playbooks.models import StepRunRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.worker.runtime import Runtime

SLOW = """
name: slow
trigger: {manual: {}}
steps:
  - {id: nap, action: wait, with: {seconds: 30}, timeout: 0.5}
  - {id: never, action: note, with: {message: unreachable}}
"""


def _owed(runtime: Runtime, topic: str) -> list[int]:
    with runtime.store.unit_of_work() as session:
        query = select(OutboxRow.id).where(OutboxRow.done_at.is_(None), OutboxRow.topic.startswith(topic))
        return list(session.scalars(query.order_by(OutboxRow.id)))


def _advance(runtime: Runtime) -> None:
    for outbox_id in _owed(runtime, flows.ADVANCE):
        flows.process_advance(runtime.transaction, outbox_id=outbox_id)


def _steps(runtime: Runtime) -> dict[str, str]:
    with runtime.store.unit_of_work() as session:
        return {row.step_id: row.status for row in session.scalars(select(StepRunRow))}


def test_a_step_stopped_at_its_timeout_before_the_advance_saw_it_is_timed_out(runtime: Runtime) -> None:
    playbook = parse_playbook(SLOW, registry=runtime.registry)
    flows.start_manual_run(
        runtime.transaction, playbook=playbook, given_inputs={}, incident_id=None, dry_run=False,
        actor="cli:tester",
    )  # fmt: skip
    _advance(runtime)
    (step,) = _owed(runtime, "step.execute")
    assert _steps(runtime)["nap"] == "running"

    execute.execute_step(runtime, outbox_id=step)  # the wait stops at the 0.5 s deadline

    assert _steps(runtime)["nap"] == "running"  # not "failed": the advance decides
    _advance(runtime)
    assert _steps(runtime) == {"nap": "timed_out", "never": "cancelled"}
