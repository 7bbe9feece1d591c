"""Manual steps: what the engine does when one is due (flows.py completes and reminds)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.actions.manual import MANUAL_ACTION, ManualParams
from orchestrator.errors import ValidationFailed
from orchestrator.playbooks import service
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.schemas import Step
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["is_manual", "manual_params", "params_of", "request"]


def is_manual(step: Step) -> bool:
    return step.action == MANUAL_ACTION


def manual_params(step: Step) -> ManualParams:
    """The step's literal parameters (titles may hold templates; they are shown as written)."""
    return ManualParams.model_validate(step.with_)


def params_of(run: RunRow, step_id: str) -> ManualParams:
    """The parameters of the manual step ``step_id`` of ``run``; ValidationFailed if it is not one."""
    try:
        step = service.snapshot(run).step(step_id)
    except KeyError:
        raise ValidationFailed(f"run '{run.id}' has no step '{step_id}'") from None
    if not is_manual(step):
        raise ValidationFailed(f"step '{step_id}' is not a manual step (it runs {step.action})")
    return manual_params(step)


def request(session: Session, *, run: RunRow, row: StepRunRow, step: Step, actor: str) -> None:
    """Put a manual step in front of people: waiting, on the timeline, first reminder scheduled."""
    params = manual_params(step)
    now = clock.utcnow()
    row.status, row.approval_requested_at = "waiting_approval", now
    row.next_attempt_at = now + timedelta(seconds=params.remind_every) if params.remind_every else None
    if run.dry_run:
        row.approval, row.approval_by = "approved", "dry-run"
        row.output = {"completed_by": "dry-run", "input": {}}
    timeline.append_entry(
        session,
        chain=service.run_chain(run),
        actor=actor,
        kind=kinds.MANUAL_REQUESTED,
        message=f"Manual step {step.id} waits for a person: {params.title}",
        data={
            "run_id": run.id,
            "step": step.id,
            "title": params.title,
            "instructions": params.instructions,
            "assignees": params.assignees,
            "input": params.input,
        },
        at=now,
    )
