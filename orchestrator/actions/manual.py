"""The ``manual`` action: a step a person does outside any API (rotate the client secret in
TikTok's portal, file the report in its support form) and marks done, with an input."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import select

from orchestrator.playbooks.action import Action, ActionContext
from orchestrator.playbooks.manual import MANUAL_ACTION, ManualParams
from orchestrator.playbooks.models import StepRunRow

__all__ = ["ManualAction"]


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
