"""Run one step's action on a worker, crash-safely.

The step row carries a lease (store/lease.py): the worker that takes the step holds it
and renews it while the action runs. A second delivery of the same step (the relay re-sends work
that is not done) finds the lease held and leaves; if the worker died, the lease runs
out and the next delivery redoes the step. The result is recorded, and the run
advanced, only if the step is still the same running attempt, so a result that arrives
after a timeout or a cancel changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from orchestrator import clock, redaction
from orchestrator.errors import ActionError, NotFound
from orchestrator.incidents import news
from orchestrator.logging import bind_ids, get_logger
from orchestrator.playbooks import service
from orchestrator.playbooks.action import ActionContext, Awaiting, execute
from orchestrator.playbooks.advance import template_context
from orchestrator.playbooks.flows import ADVANCE, Transaction
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.schemas import Step
from orchestrator.playbooks.templates import render_params
from orchestrator.ports import Ports
from orchestrator.store import outbox
from orchestrator.store.lease import Lease, lease_seconds
from orchestrator.timeline.writer import StoreTimeline

__all__ = ["execute_step"]

log = get_logger(__name__)


@dataclass(frozen=True)
class _Claim:
    step_row_id: int
    attempt: int
    run_id: str
    chain: str
    playbook_name: str
    dry_run: bool
    incident_id: str | None
    step: Step
    context: dict[str, Any]
    deadline: float | None


def _claim(transaction: Transaction, outbox_id: int, lease: float) -> _Claim | None:
    now = clock.utcnow()
    with transaction() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return None
        step_row = session.get(StepRunRow, int(row.ref_id), with_for_update=True)
        attempt = int(row.payload.get("attempt", 0))
        if step_row is None or step_row.status != "running" or step_row.attempt != attempt:
            outbox.complete(row, now)  # superseded: timed out, cancelled or rerun meanwhile
            return None
        if step_row.lease_until is not None and step_row.lease_until > now:
            # another worker holds it: the relay asks again later, and this send is not counted
            # towards the dead-letter cap (a live holder's row is not failing); a dead holder's
            # lease expires, and each worker killed on the step after it counts
            outbox.resend_later(session, row.id, now, progress=False)
            return None
        step_row.lease_until = now + timedelta(seconds=lease)
        run = service.get_run(session, run_id=step_row.run_id)
        step = service.snapshot(run).step(step_row.step_id)
        rows = service.step_rows(session, run_id=run.id)
        remaining = None
        if step.timeout is not None and step_row.started_at is not None:
            remaining = step.timeout - (now - step_row.started_at).total_seconds()
        return _Claim(
            step_row_id=step_row.id,
            attempt=attempt,
            run_id=run.id,
            chain=service.run_chain(run),
            playbook_name=run.playbook_name,
            dry_run=run.dry_run,
            incident_id=run.incident_id,
            step=step,
            context=template_context(session, run, rows),
            deadline=None if remaining is None else time.monotonic() + remaining,
        )


def _cancel_check(runtime: Ports, claim: _Claim) -> Callable[[], bool]:
    """True once the step's timeout passed or its run stopped (the store is read at most once a second)."""
    last = {"at": 0.0, "stopped": False}

    def cancelled() -> bool:
        if claim.deadline is not None and time.monotonic() > claim.deadline:
            return True
        if time.monotonic() - last["at"] >= 1.0:
            last["at"] = time.monotonic()
            with runtime.store.unit_of_work() as session:
                last["stopped"] = (
                    session.scalar(select(RunRow.status).where(RunRow.id == claim.run_id)) != "running"
                )
        return bool(last["stopped"])

    return cancelled


def _run_action(runtime: Ports, claim: _Claim) -> tuple[dict[str, Any] | Awaiting | None, str | None, bool]:
    cancelled = _cancel_check(runtime, claim)

    try:
        params = render_params(claim.step.with_, claim.context, step_id=claim.step.id)
        action = runtime.registry.get(claim.step.action)
        ctx = ActionContext(
            run_id=claim.run_id,
            step_id=claim.step.id,
            incident_id=claim.incident_id,
            idempotency_key=f"{claim.run_id}:{claim.step.id}",
            dry_run=claim.dry_run,
            actor=f"playbook:{claim.playbook_name}",
            timeline=StoreTimeline(runtime.store, claim.chain),
            cancelled=cancelled,
            runtime=runtime,
        )
        return execute(action, ctx, params), None, True
    except ActionError as exc:
        return None, redaction.redact_text(str(exc)), exc.retryable
    except NotFound as exc:
        return None, str(exc), False
    except Exception as exc:  # an action bug: record it, let the retry policy decide
        log.exception("action raised", action=claim.step.action)
        return None, redaction.redact_text(f"{type(exc).__name__}: {exc}"), True


def execute_step(runtime: Ports, *, outbox_id: int) -> None:
    """Worker entry for ``step.execute*``: claim, run the action, record the outcome, and owe
    the incident a fresher card in the same commit (``news.changed``: the domain does not talk
    to Slack; a notifications worker does)."""
    lease = lease_seconds(runtime.settings.redeliver_after_seconds)
    claim = _claim(runtime.transaction, outbox_id, lease)
    if claim is None:
        return
    bind_ids(run_id=claim.run_id, incident_id=claim.incident_id, step=claim.step.id)
    started = time.monotonic()
    renewal = Lease(
        runtime.store,
        StepRunRow,
        lease,
        StepRunRow.id == claim.step_row_id,
        StepRunRow.attempt == claim.attempt,
        StepRunRow.status == "running",
    )
    with renewal:
        output, error, retryable = _run_action(runtime, claim)
    duration_ms = int((time.monotonic() - started) * 1000)
    past_deadline = error is not None and claim.deadline is not None and time.monotonic() > claim.deadline
    now = clock.utcnow()
    with runtime.transaction() as session:
        row = outbox.claim(session, outbox_id)
        step_row = session.get(StepRunRow, claim.step_row_id, with_for_update=True)
        if (
            row is None
            or step_row is None
            or step_row.status != "running"
            or step_row.attempt != claim.attempt
        ):
            if row is not None:
                outbox.complete(row, now)
            log.info("late step result dropped", step=claim.step.id)
            return
        if past_deadline:
            # Stopped by its timeout before the run's advance recorded it: the advance records
            # ``timed_out`` (with its retry policy), not this action's "cancelled" failure.
            outbox.complete(row, now)
            outbox.enqueue(session, topic=ADVANCE, ref_id=claim.run_id, now=now)
            log.info("step stopped at its timeout", step=claim.step.id, duration_ms=duration_ms)
            return
        if isinstance(output, Awaiting):
            # Nobody holds the step now: what it awaits records its outcome and advances the run.
            step_row.lease_until = None
            outbox.complete(row, now)
            log.info("step awaits", step=claim.step.id, on=output.on, duration_ms=duration_ms)
            return
        service.record_outcome(
            session,
            run=service.get_run(session, run_id=claim.run_id),
            row=step_row,
            action=claim.step.action,
            output=output,
            error=error,
            retryable=retryable,
            duration_ms=duration_ms,
            now=now,
        )
        outbox.complete(row, now)
        outbox.enqueue(session, topic=ADVANCE, ref_id=claim.run_id, now=now)
        if claim.incident_id:
            news.changed(session, incident_id=claim.incident_id, at=now)  # switch, revocation, report
    log.info("step finished", status="succeeded" if error is None else "failed", duration_ms=duration_ms)
