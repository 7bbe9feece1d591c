"""What people decide and do inside a run: approve or deny a step, do a manual step, get reminded.

Each records who acted on the run's timeline and hands the run back to the engine through the
outbox (``ADVANCE``); who may act is the step's named approvers or assignees (or their groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.errors import ValidationFailed
from orchestrator.incidents import news
from orchestrator.playbooks import manual, service
from orchestrator.playbooks.flows import Transaction
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.people import is_named
from orchestrator.playbooks.schemas import Playbook
from orchestrator.playbooks.service import ADVANCE
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["complete_manual_step", "decide_approval", "remind_due_steps"]


def _tell(session: Session, run: RunRow, what: news.News, step_id: str, at: datetime) -> None:
    """The incident's room hears of it (``incidents/news.py``), in the transaction of the fact."""
    news.tell(
        session, incident_id=service.followed_incident(run), what=what, at=at, run_id=run.id, step=step_id
    )


def decide_approval(
    transaction: Transaction,
    *,
    run_id: str,
    step_id: str,
    approve: bool,
    actor: str,
    groups: frozenset[str] = frozenset(),
) -> None:
    """Record a person's approval or denial, then advance the run; ``groups``: the actor's (from Slack)."""
    now = clock.utcnow()
    with transaction() as session:
        run = service.get_run(session, run_id=run_id, for_update=True)
        row = service.get_step(session, run_id=run.id, step_id=step_id, for_update=True)
        if row.status != "waiting_approval" or row.approval is not None:
            raise ValidationFailed(
                f"step '{step_id}' of run '{run.id}' is {row.status}, not waiting for approval"
            )
        step = service.snapshot(run).step(step_id)
        if manual.is_manual(step):
            raise ValidationFailed(
                f"step '{step_id}' is a manual step: mark it done with "
                f"`orchestrator run done {run.id} {step_id}` or its Done button in Slack"
            )
        approval = step.approval
        if approval is not None and not approval.allows(actor, groups):
            raise ValidationFailed(
                f"{actor} may not approve step '{step_id}' (approvers: {', '.join(approval.approvers)})"
            )
        decision = "approved" if approve else "denied"
        row.approval, row.approval_by = decision, actor
        if not approve:
            row.status, row.retryable, row.finished_at = "failed", False, now
        waited = (
            int((now - row.approval_requested_at).total_seconds() * 1000)
            if row.approval_requested_at
            else None
        )
        timeline.append_entry(
            session,
            chain=service.run_chain(run),
            actor=actor,
            kind=kinds.APPROVAL_DECIDED,
            message=f"{actor} {decision} step {step_id}",
            data={"run_id": run.id, "step": step_id, "decision": decision, "by": actor, "waited_ms": waited},
            at=now,
        )
        _tell(session, run, "approval.decided", step_id, now)
        outbox.enqueue(session, topic=ADVANCE, ref_id=run.id, now=now)


def complete_manual_step(
    transaction: Transaction,
    *,
    run_id: str,
    step_id: str,
    actor: str,
    inputs: Mapping[str, str],
    groups: frozenset[str] = frozenset(),
) -> None:
    """Record that ``actor`` did the manual step (with its required input), then resume the run."""
    now = clock.utcnow()
    with transaction() as session:
        run = service.get_run(session, run_id=run_id, for_update=True)
        row = service.get_step(session, run_id=run.id, step_id=step_id, for_update=True)
        params = manual.params_of(run, step_id)
        if row.approval == "approved":
            raise ValidationFailed(
                f"step '{step_id}' of run '{run.id}' was already done by {row.approval_by}"
            )
        if row.status != "waiting_approval" or row.approval is not None:
            raise ValidationFailed(
                f"step '{step_id}' of run '{run.id}' is {row.status}, not waiting for a person"
            )
        if not is_named(actor, params.assignees, groups):
            raise ValidationFailed(
                f"{actor} may not complete '{step_id}' (assignees: {', '.join(params.assignees)})"
            )
        if params.input and not str(inputs.get(params.input, "")).strip():
            raise ValidationFailed(
                f"step '{step_id}' needs its {params.input}: add --input {params.input}=VALUE",
                field=params.input,
            )
        given = {key: str(value)[:500] for key, value in inputs.items()}
        row.approval, row.approval_by, row.next_attempt_at = "approved", actor, None
        row.output = {"completed_by": actor, "input": given}
        timeline.append_entry(
            session,
            chain=service.run_chain(run),
            actor=actor,
            kind=kinds.MANUAL_COMPLETED,
            message=f"{actor} completed {step_id}: {params.title}"
            + (f" ({params.input} {given.get(params.input)})" if params.input else ""),
            data={
                "run_id": run.id,
                "step": step_id,
                "by": actor,
                "input": given,
                "evidence": params.evidence,
                "evidence_value": given.get(params.input) if params.input else None,
            },
            at=now,
        )
        _tell(session, run, "manual.completed", step_id, now)
        outbox.enqueue(session, topic=ADVANCE, ref_id=run.id, now=now)


def remind_due_steps(transaction: Transaction) -> int:
    """Scheduler job: a reminder entry for every manual step still waiting past its reminder time."""
    now = clock.utcnow()
    reminded = 0
    with transaction() as session:
        rows = list(
            session.scalars(
                select(StepRunRow)
                .join(RunRow, RunRow.id == StepRunRow.run_id)
                .where(
                    RunRow.status == "running",
                    StepRunRow.status == "waiting_approval",
                    StepRunRow.approval.is_(None),
                    StepRunRow.next_attempt_at <= now,
                )
            )
        )
        books: dict[str, Playbook] = {}
        for row in rows:
            run = session.get(RunRow, row.run_id)
            if run is None:
                continue
            book = books.setdefault(run.id, service.snapshot(run))
            step = book.step(row.step_id)
            if not manual.is_manual(step):
                continue
            params = manual.manual_params(step)
            waiting = (now - row.approval_requested_at).total_seconds() if row.approval_requested_at else None
            row.next_attempt_at = (
                now + timedelta(seconds=params.remind_every) if params.remind_every else None
            )
            timeline.append_entry(
                session,
                chain=service.run_chain(run),
                actor="system",
                kind=kinds.MANUAL_REMINDER,
                message=f"Reminder: {params.title} is still to do (step {row.step_id})",
                data={"run_id": run.id, "step": row.step_id, "title": params.title, "waiting_s": waiting},
                at=now,
            )
            _tell(session, run, "manual.reminder", row.step_id, now)
            reminded += 1
    return reminded
