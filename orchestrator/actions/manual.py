"""The ``manual`` action: a step a person does outside any API (rotate the client secret in
TikTok's portal, file the report in its support form) and marks done, with an input."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field
from sqlalchemy import select

from orchestrator.actions.base import Action, ActionContext, ActionParams
from orchestrator.playbooks.models import StepRunRow
from orchestrator.playbooks.schemas import Duration

__all__ = ["MANUAL_ACTION", "ManualAction", "ManualParams"]

MANUAL_ACTION = "manual"


class ManualParams(ActionParams):
    """What the person must do, who may mark it done, the input it needs, how often to remind."""

    title: str = Field(min_length=1, max_length=300)
    instructions: str = Field(default="", max_length=10_000)
    input: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    assignees: list[str] = Field(default_factory=lambda: ["any"], min_length=1)
    remind_every: Duration | None = None
    evidence: Literal["report"] | None = None
    """What completing the step proves: ``report`` makes its input (a TikTok support ticket id)
    the compliance report's evidence that the compromise was reported to TikTok."""


class ManualAction(Action):
    """Runs once a person completed the step: its output is what they recorded.

    The engine holds a manual step until ``orchestrator run done`` (or Slack's Done
    button) records who completed it and the input; then this action reads that record.
    """

    name: ClassVar[str] = MANUAL_ACTION
    params: ClassVar[type[ManualParams]] = ManualParams
    has_effects: ClassVar[bool] = False

    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any]:
        runtime = ctx.runtime
        if runtime is None or ctx.dry_run:
            return {"completed_by": "dry-run", "input": {}}
        with runtime.store.unit_of_work() as session:
            recorded = session.scalar(
                select(StepRunRow.output).where(
                    StepRunRow.run_id == ctx.run_id, StepRunRow.step_id == ctx.step_id
                )
            )
        return dict(recorded or {"completed_by": None, "input": {}})
