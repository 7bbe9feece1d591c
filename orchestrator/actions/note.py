"""The ``note`` action: writes a (redacted) note to the incident timeline."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from orchestrator import redaction
from orchestrator.playbooks.action import Action, ActionContext, ActionParams

__all__ = ["NoteAction", "NoteParams"]


class NoteParams(ActionParams):
    """``message`` (required) and optional structured ``data``."""

    message: str = Field(min_length=1, max_length=10_000)
    data: dict[str, Any] = Field(default_factory=dict)


class NoteAction(Action):
    """Appends a ``note`` timeline entry; the idempotency key rides in ``data`` so the
    timeline writer can drop a redelivered duplicate."""

    name: ClassVar[str] = "note"
    params: ClassVar[type[NoteParams]] = NoteParams
    has_effects: ClassVar[bool] = False

    def run(self, ctx: ActionContext, params: NoteParams) -> dict[str, Any]:
        message = redaction.redact_text(params.message)
        data = dict(redaction.redact(params.data))
        data["idempotency_key"] = ctx.idempotency_key
        data["step_id"] = ctx.step_id
        if ctx.dry_run:
            message = f"[dry run] {message}"
        ctx.timeline.append("note", message, data, ctx.actor)
        return {"message": message}
