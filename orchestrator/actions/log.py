"""The ``log`` action: one structlog line with a message, a level and (redacted) fields."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import structlog
from pydantic import Field

from orchestrator import redaction
from orchestrator.playbooks.action import Action, ActionContext, ActionParams

__all__ = ["LogAction", "LogParams"]

_logger = structlog.get_logger("orchestrator.actions.log")


class LogParams(ActionParams):
    """``message``, ``level`` (debug, info, warning, error) and extra ``fields``."""

    message: str = Field(min_length=1, max_length=10_000)
    level: Literal["debug", "info", "warning", "error"] = "info"
    fields: dict[str, Any] = Field(default_factory=dict)


class LogAction(Action):
    """Logs through structlog, bound to the run and step; secrets are masked first."""

    name: ClassVar[str] = "log"
    params: ClassVar[type[LogParams]] = LogParams
    has_effects: ClassVar[bool] = False

    def run(self, ctx: ActionContext, params: LogParams) -> dict[str, Any]:
        message = redaction.redact_text(params.message)
        fields = {f"field_{k}": v for k, v in redaction.redact(params.fields).items()}
        log = _logger.bind(
            run_id=ctx.run_id, step_id=ctx.step_id, incident_id=ctx.incident_id, dry_run=ctx.dry_run
        )
        getattr(log, params.level)(message, **fields)
        return {"message": message, "level": params.level}
