"""Manual steps: what the engine does when one is due (flows.py completes and reminds)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.errors import ValidationFailed
from orchestrator.incidents import news
from orchestrator.playbooks import service
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.schemas import Duration, Step
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["MANUAL_ACTION", "ManualParams", "is_manual", "manual_params", "params_of", "request"]

MANUAL_ACTION = "manual"


class ManualParams(BaseModel):
    """A manual step's params (an action's params, defined here because the engine reads them):
    what the person must do, who may mark it done, the input it needs, how often to remind."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    title: str = Field(min_length=1, max_length=300)
    instructions: str = Field(default="", max_length=10_000)
    input: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    assignees: list[str] = Field(default_factory=lambda: ["any"], min_length=1)
    remind_every: Duration | None = None
    evidence: Literal["report"] | None = None
    """What completing the step proves: ``report`` makes its input (a TikTok support ticket id)
    the compliance report's evidence that the compromise was reported to TikTok."""


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
    incident_id = service.followed_incident(run)
    news.tell(session, incident_id=incident_id, what="manual.requested", at=now, run_id=run.id, step=step.id)
