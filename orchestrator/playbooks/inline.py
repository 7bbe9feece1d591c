"""Steps done inside the engine pass that starts them: actions whose whole effect is rows in the
orchestrator's own store (``TransactionalAction``, the kill switch).

Such a step is started, done and recorded in one commit, with no broker hop, no claim and no
lease: for the kill switch that is the difference between disconnecting in the transaction that
opens the incident and three transactions later. Everything else still goes through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from orchestrator import redaction
from orchestrator.errors import ActionError, NotFound, ValidationFailed
from orchestrator.playbooks.action import ActionContext, TransactionalAction, execute_in
from orchestrator.playbooks.models import RunRow
from orchestrator.playbooks.schemas import Step
from orchestrator.playbooks.service import run_chain
from orchestrator.playbooks.templates import render_params
from orchestrator.ports import Ports
from orchestrator.timeline.writer import SessionTimeline

__all__ = ["InlineOutcome", "InlineSteps", "inline_steps"]


@dataclass(frozen=True)
class InlineOutcome:
    """What a step done in the transaction gave: an output, or an error and whether to retry."""

    output: dict[str, Any] | None
    error: str | None = None
    retryable: bool = True


class InlineSteps(Protocol):
    """Does ``step`` in ``session``'s transaction, or returns None when its action cannot; ``context``
    gives the templates' context, read only when the step is done here."""

    def __call__(
        self, session: Session, *, run: RunRow, step: Step, context: Callable[[], Mapping[str, Any]]
    ) -> InlineOutcome | None: ...


def inline_steps(runtime: Ports) -> InlineSteps:
    """The worker's runner: the registry says which actions are transactional."""

    def run_inline(
        session: Session, *, run: RunRow, step: Step, context: Callable[[], Mapping[str, Any]]
    ) -> InlineOutcome | None:
        try:
            action = runtime.registry.get(step.action)
        except NotFound:  # the outbox path fails the step with the registry's message
            return None
        if not isinstance(action, TransactionalAction):
            return None
        ctx = ActionContext(
            run_id=run.id,
            step_id=step.id,
            incident_id=run.incident_id,
            idempotency_key=f"{run.id}:{step.id}",
            dry_run=run.dry_run,
            actor=f"playbook:{run.playbook_name}",
            timeline=SessionTimeline(session, run_chain(run)),
            runtime=runtime,
        )
        try:
            params = render_params(step.with_, context(), step_id=step.id)
            return InlineOutcome(execute_in(session, action, ctx, params))
        except ActionError as exc:
            return InlineOutcome(None, redaction.redact_text(str(exc)), exc.retryable)
        except (NotFound, ValidationFailed) as exc:
            return InlineOutcome(None, redaction.redact_text(str(exc)), False)

    return run_inline
