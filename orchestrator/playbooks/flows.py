"""The story of a run: started by an incident or a person, advanced, decided, cancelled, rerun.

Every function takes a ``transaction`` factory (``Runtime.transaction`` in workers,
``Store.unit_of_work`` in tests) or an open session, never builds its own I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks import manual, service
from orchestrator.playbooks.advance import advance
from orchestrator.playbooks.engine import cancellable, rerun_states
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.people import is_named
from orchestrator.playbooks.schemas import Playbook
from orchestrator.playbooks.service import ADVANCE
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = [
    "ADVANCE",
    "Transaction",
    "cancel_run",
    "complete_manual_step",
    "decide_approval",
    "process_advance",
    "remind_due_steps",
    "rerun_step",
    "start_manual_run",
    "start_matching_runs",
    "wake_due_runs",
]

if TYPE_CHECKING:
    from orchestrator.playbooks.inline import InlineSteps

Transaction = Callable[[], AbstractContextManager[Session]]


def _create_run(
    session: Session,
    *,
    playbook: Playbook,
    incident_id: str | None,
    event_id: str | None,
    inputs: Mapping[str, Any],
    dry_run: bool,
    actor: str,
    once_key: str | None,
    now: datetime,
    inline: InlineSteps | None = None,
) -> RunRow:
    run = RunRow(
        id=service.new_run_id(),
        playbook_name=playbook.name,
        playbook_hash=playbook.content_hash(),
        playbook=playbook.model_dump(mode="json", by_alias=True),
        incident_id=incident_id,
        event_id=event_id,
        once_key=once_key,
        inputs=dict(inputs),
        status="running",
        dry_run=dry_run,
        started_by=actor,
        created_at=now,
    )
    session.add(run)
    session.flush()
    for step in playbook.iter_steps():
        session.add(StepRunRow(run_id=run.id, step_id=step.id, status="pending", attempt=0, retryable=True))
    timeline.append_entry(
        session,
        chain=service.run_chain(run),
        actor=actor,
        kind=kinds.RUN_STARTED,
        message=f"Playbook {playbook.name} started{' (dry run)' if dry_run else ''}",
        data={
            "run_id": run.id,
            "playbook": playbook.name,
            "playbook_hash": run.playbook_hash,
            "dry_run": dry_run,
            "inputs": dict(inputs),
        },
        at=now,
    )
    if inline is None:
        outbox.enqueue(session, topic=ADVANCE, ref_id=run.id, now=now)
    else:  # a worker: the first engine pass belongs to this transaction (the kill switch with it)
        advance(session, run=run, now=now, inline=inline)
    return run


def start_matching_runs(
    session: Session,
    *,
    incident: IncidentRow,
    event: EventRow,
    playbooks: Mapping[str, Playbook],
    now: datetime,
    inline: InlineSteps | None = None,
) -> list[str]:
    """Start every playbook whose trigger matches ``event``, once per incident and playbook.

    With ``inline`` (a worker's runner) each run's first engine pass happens in this
    transaction, so a first step that engages the kill switch commits with the incident.
    """
    started: list[str] = []
    compromise = event.to_event(with_raw=False)
    for playbook in playbooks.values():
        if not playbook.matches(compromise):
            continue
        once_key = f"{incident.id}:{playbook.name}"
        if session.scalar(select(RunRow.id).where(RunRow.once_key == once_key)) is not None:
            continue
        run = _create_run(
            session,
            playbook=playbook,
            incident_id=incident.id,
            event_id=event.id,
            inputs={},
            dry_run=False,
            actor=f"source:{event.source}",
            once_key=once_key,
            now=now,
            inline=inline,
        )
        started.append(run.id)
    return started


def start_manual_run(
    transaction: Transaction,
    *,
    playbook: Playbook,
    given_inputs: Mapping[str, Any],
    incident_id: str | None,
    dry_run: bool,
    actor: str,
) -> str:
    """Start a playbook by hand; inputs are typed and checked first (ValidationFailed names one)."""
    inputs = playbook.resolve_inputs(given_inputs) if playbook.trigger.manual else dict(given_inputs)
    with transaction() as session:
        if incident_id is not None:
            incident = session.get(IncidentRow, incident_id)
            if incident is None:
                raise NotFound(f"no incident with id '{incident_id}'")
        run = _create_run(
            session,
            playbook=playbook,
            incident_id=incident_id,
            event_id=None,
            inputs=inputs,
            dry_run=dry_run,
            actor=actor,
            once_key=None,
            now=clock.utcnow(),
        )
        return run.id


def process_advance(
    transaction: Transaction, *, outbox_id: int, inline: InlineSteps | None = None
) -> RunRow | None:
    """Worker entry for ``run.advance``: apply the engine to the run; a redelivery is a no-op.

    Returns the run (detached, after the commit), or None for a redelivery.
    """
    with transaction() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return None
        run = service.get_run(session, run_id=row.ref_id, for_update=True)
        if run.status == "running":
            advance(session, run=run, now=clock.utcnow(), inline=inline)
        outbox.complete(row, clock.utcnow())
        return run


def wake_due_runs(transaction: Transaction) -> int:
    """Scheduler job: enqueue an advance for each running run whose wake time has come."""
    now = clock.utcnow()
    with transaction() as session:
        runs = list(session.scalars(select(RunRow).where(RunRow.status == "running", RunRow.wake_at <= now)))
        for run in runs:
            run.wake_at = None
            outbox.enqueue(session, topic=ADVANCE, ref_id=run.id, now=now)
    return len(runs)


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
        outbox.enqueue(session, topic=ADVANCE, ref_id=run.id, now=now)


def cancel_run(transaction: Transaction, *, run_id: str, actor: str) -> None:
    """Stop a run: unfinished steps are cancelled; a running step's late result is dropped."""
    now = clock.utcnow()
    with transaction() as session:
        run = service.get_run(session, run_id=run_id, for_update=True)
        if run.status != "running":
            raise ValidationFailed(f"run '{run.id}' is {run.status}; only a running run can be cancelled")
        rows = service.step_rows(session, run_id=run.id)
        for step_id in cancellable(service.states(rows)):
            rows[step_id].status = "cancelled"
        run.status, run.finished_at, run.wake_at = "cancelled", now, None
        timeline.append_entry(
            session,
            chain=service.run_chain(run),
            actor=actor,
            kind=kinds.RUN_FINISHED,
            message=f"Playbook {run.playbook_name} cancelled by {actor}",
            data={"run_id": run.id, "playbook": run.playbook_name, "status": "cancelled"},
            at=now,
        )


def rerun_step(transaction: Transaction, *, run_id: str, step_id: str, actor: str) -> None:
    """Make a failed step (and the steps its failure cancelled) pending again and resume."""
    now = clock.utcnow()
    with transaction() as session:
        run = service.get_run(session, run_id=run_id, for_update=True)
        rows = service.step_rows(session, run_id=run.id)
        try:
            reset = rerun_states(service.snapshot(run), service.states(rows), step_id)
        except (ValueError, KeyError) as exc:
            raise ValidationFailed(str(exc).strip("'")) from None
        for reset_id in reset:
            row = rows[reset_id]
            row.status, row.attempt, row.retryable = "pending", 0, True
            row.started_at = row.finished_at = row.next_attempt_at = row.lease_until = None
            row.approval = row.approval_by = row.approval_requested_at = None
            row.error = None
            row.output = None
        run.status, run.finished_at = "running", None
        timeline.append_entry(
            session,
            chain=service.run_chain(run),
            actor=actor,
            kind=kinds.NOTE,
            message=f"{actor} reran step {step_id} of {run.playbook_name}",
            data={"run_id": run.id, "step": step_id, "reset": sorted(reset)},
            at=now,
        )
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
            reminded += 1
    return reminded
