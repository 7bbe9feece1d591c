"""Advance a run: ask the pure engine what to do, apply it to the stored step states.

Runs inside the caller's transaction with the run row locked; every step start,
skip, retry, timeout, approval request and decision becomes a timeline entry, and a
started step is handed to a worker through the outbox (committed with the state).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.events.models import EventRow
from orchestrator.incidents import news
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks import manual, service
from orchestrator.playbooks.engine import decide_step, next_actions
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.schemas import Playbook
from orchestrator.playbooks.templates import TemplateFailed, build_context
from orchestrator.routing import step_topic
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

if TYPE_CHECKING:
    from orchestrator.playbooks.inline import InlineSteps

__all__ = ["advance", "template_context"]

_MAX_ROUNDS = 200


def template_context(session: Session, run: RunRow, rows: dict[str, StepRunRow]) -> dict[str, Any]:
    """What a run's templates see: event, incident, inputs, earlier steps and the run."""
    event = session.get(EventRow, run.event_id) if run.event_id else None
    incident = session.get(IncidentRow, run.incident_id) if run.incident_id else None
    return build_context(
        event=event.to_event() if event else None,
        incident=incident.as_dict() if incident else None,
        inputs=run.inputs,
        steps=service.step_outputs(rows),
        run={"id": run.id, "dry_run": run.dry_run, "playbook": run.playbook_name},
    )


class _Applier:
    def __init__(
        self, session: Session, run: RunRow, playbook: Playbook, now: datetime, inline: InlineSteps | None
    ) -> None:
        self.session, self.run, self.playbook, self.now = session, run, playbook, now
        self.inline = inline
        self.rows = service.step_rows(session, run_id=run.id)
        self.actor = f"playbook:{run.playbook_name}"

    def note(self, kind: str, message: str, **data: Any) -> None:
        timeline.append_entry(
            self.session,
            chain=service.run_chain(self.run),
            actor=self.actor,
            kind=kind,
            message=message,
            data={"run_id": self.run.id, **data},
            at=self.now,
        )

    def tell(self, what: news.News, **facts: str) -> None:
        """News for the incident's room, committed with the fact."""
        incident_id = service.followed_incident(self.run)
        news.tell(self.session, incident_id=incident_id, what=what, at=self.now, run_id=self.run.id, **facts)

    def start(self, row: StepRunRow, attempt: int) -> None:
        step = self.playbook.step(row.step_id)
        row.status, row.attempt, row.started_at = "running", attempt, self.now
        row.finished_at = row.next_attempt_at = row.lease_until = None
        row.error = None
        self.note(
            kinds.STEP_STARTED,
            f"Step {row.step_id} started ({step.action}, attempt {attempt})",
            step=row.step_id,
            action=step.action,
            attempt=attempt,
        )
        done, began = None, time.monotonic()
        if self.inline is not None:

            def context() -> dict[str, Any]:  # read only for a step done here (most are not)
                return template_context(self.session, self.run, self.rows)

            done = self.inline(self.session, run=self.run, step=step, context=context)
        if done is None:
            outbox.enqueue(
                self.session,
                topic=step_topic(step.action),
                ref_id=str(row.id),
                now=self.now,
                payload={"attempt": attempt},
            )
            return
        service.record_outcome(
            self.session,
            run=self.run,
            row=row,
            action=step.action,
            output=done.output,
            error=done.error,
            retryable=done.retryable,
            duration_ms=int((time.monotonic() - began) * 1000),
            now=clock.utcnow(),  # done here, it finished now, not when this pass began
        )

    def fail(self, row: StepRunRow, error: str, *, retryable: bool, status: str = "failed") -> None:
        row.status, row.error, row.retryable, row.finished_at = status, error, retryable, self.now
        self.note(
            kinds.STEP_FAILED,
            f"Step {row.step_id} failed: {error}",
            step=row.step_id,
            attempt=row.attempt,
            error=error,
            retryable=retryable,
            duration_ms=self.duration(row),
        )

    def duration(self, row: StepRunRow) -> int | None:
        return int((self.now - row.started_at).total_seconds() * 1000) if row.started_at else None

    def due(self, step_id: str) -> None:
        row = self.rows[step_id]
        step = self.playbook.step(step_id)
        try:
            decision = decide_step(step, template_context(self.session, self.run, self.rows))
        except TemplateFailed as exc:
            self.fail(row, str(exc), retryable=False)
            return
        if decision == "skip":
            row.status, row.finished_at = "skipped", self.now
            self.note(kinds.STEP_SKIPPED, f"Step {step_id} skipped: its condition is false", step=step_id)
        elif decision == "request_approval" and step.approval is not None:
            row.status, row.approval_requested_at = "waiting_approval", self.now
            if self.run.dry_run:
                row.approval, row.approval_by = "approved", "dry-run"
            approvers = list(step.approval.approvers)
            self.note(
                kinds.APPROVAL_REQUESTED,
                f"Step {step_id} waits for approval by {', '.join(approvers)}",
                step=step_id,
                approvers=approvers,
                timeout_s=step.approval.timeout,
            )
            self.tell("approval.requested", step=step_id)
        elif manual.is_manual(step) and row.approval is None:
            manual.request(self.session, run=self.run, row=row, step=step, actor=self.actor)
        else:
            self.start(row, row.attempt + 1)

    def apply_once(self) -> bool:
        plan = next_actions(self.playbook, service.states(self.rows), self.now)
        self.run.wake_at = plan.wake_at
        if plan.status != "running":
            self.finish(plan.status, plan.cancel)
            return False
        if plan.idle:
            return False
        for step_id in plan.due:
            self.due(step_id)
        for start in plan.start:
            self.start(self.rows[start.step_id], start.attempt)
        for retry in plan.retries:
            row = self.rows[retry.step_id]
            row.status, row.next_attempt_at = "pending", retry.at
            self.note(
                kinds.STEP_RETRY,
                f"Step {retry.step_id} will retry (attempt {retry.attempt})",
                step=retry.step_id,
                attempt=retry.attempt,
                at=retry.at.isoformat(),
            )
        for step_id in plan.timeouts:
            timeout = self.playbook.step(step_id).timeout
            self.fail(self.rows[step_id], f"timed out after {timeout:g}s", retryable=True, status="timed_out")
        for decided in plan.approval_timeouts:
            row = self.rows[decided.step_id]
            row.approval, row.approval_by = decided.decision, "system:timeout"
            if decided.decision != "approved":
                row.status, row.retryable, row.finished_at = "failed", False, self.now
            self.note(
                kinds.APPROVAL_DECIDED,
                f"Approval of {decided.step_id} timed out: {decided.decision}",
                step=decided.step_id,
                decision=decided.decision,
                by="system:timeout",
                waited_ms=self.waited(row),
            )
            self.tell("approval.decided", step=decided.step_id)
        for step_id in plan.cancel:
            self.rows[step_id].status = "cancelled"
        return True

    def waited(self, row: StepRunRow) -> int | None:
        at = row.approval_requested_at
        return int((self.now - at).total_seconds() * 1000) if at else None

    def finish(self, status: str, never_ran: tuple[str, ...]) -> None:
        for step_id in never_ran:
            if self.rows[step_id].status in ("pending", "waiting_approval"):
                self.rows[step_id].status = "cancelled"
        if self.run.status != "running":
            return
        self.run.status, self.run.finished_at, self.run.wake_at = status, self.now, None
        duration = int((self.now - self.run.created_at).total_seconds() * 1000)
        self.note(
            kinds.RUN_FINISHED,
            f"Playbook {self.run.playbook_name} {status}",
            playbook=self.run.playbook_name,
            status=status,
            duration_ms=duration,
        )
        self.tell("run.finished")


def advance(session: Session, *, run: RunRow, now: datetime, inline: InlineSteps | None = None) -> str:
    """Apply the engine's plans to a locked running run until nothing is left to do now.

    With ``inline`` (a worker's runner), steps whose action only writes the store are done in
    this transaction (``playbooks/inline.py``); the rest are handed to workers through the outbox.
    """
    applier = _Applier(session, run, service.snapshot(run), now, inline)
    for _ in range(_MAX_ROUNDS):
        if not applier.apply_once():
            break
    return run.status
