"""The ``wait`` action: sleeps a capped number of seconds, stopping early when cancelled."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from pydantic import Field

from orchestrator import clock
from orchestrator.errors import ActionError
from orchestrator.playbooks.action import Action, ActionContext, ActionParams

__all__ = ["MAX_WAIT_SECONDS", "WaitAction", "WaitParams"]

MAX_WAIT_SECONDS = 900.0
_POLL_SECONDS = 0.2


class WaitParams(ActionParams):
    """``seconds`` to wait, 0 to 900 (longer pauses belong in a retry or an approval)."""

    seconds: float = Field(ge=0, le=MAX_WAIT_SECONDS)


class WaitAction(Action):
    """Waits in short slices, checking ``ctx.cancelled()``; a dry run does not wait."""

    name: ClassVar[str] = "wait"
    params: ClassVar[type[WaitParams]] = WaitParams
    has_effects: ClassVar[bool] = False

    def run(self, ctx: ActionContext, params: WaitParams) -> dict[str, Any]:
        if ctx.dry_run:
            return {"waited": 0.0, "dry_run": True}
        started = clock.monotonic()
        while (left := params.seconds - (clock.monotonic() - started)) > 0:
            if ctx.cancelled():
                raise ActionError("wait cancelled", retryable=False)
            time.sleep(min(left, _POLL_SECONDS))
        return {"waited": round(clock.monotonic() - started, 3)}
