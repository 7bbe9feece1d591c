"""The story of a run: started by an incident or a person, advanced, decided, cancelled, rerun.

Every function takes a ``transaction`` factory (``Runtime.transaction`` in workers,
``Store.unit_of_work`` in tests) or an open session, never builds its own I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.events.models import EventRow
from orchestrator.incidents import news
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks import service
from orchestrator.playbooks.advance import advance
from orchestrator.playbooks.engine import cancellable, rerun_states
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.schemas import Playbook
from orchestrator.playbooks.service import ADVANCE
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = [
    "ADVANCE",
    "Transaction",
    "cancel_run",
    "process_advance",
    "rerun_step",
    "start_manual_run",
    "start_matching_runs",
    "unstarted",
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


def _once_key(incident_id: str, playbook: Playbook) -> str:
    return f"{incident_id}:{playbook.name}"


def unstarted(
    event: EventRow, playbooks: Mapping[str, Playbook], *, incident_id: str, known: set[str]
) -> dict[str, Playbook]:
    """The playbooks matching ``event`` whose run for the incident ``known`` (the once keys this
    transaction has found or started) does not list: a storm's repeats find none, and cost no
    statement (each looked its runs up and locked the incident: 10,000 critical alerts took 15 s)."""
    compromise = event.to_event(with_raw=False)
    return {
        name: book
        for name, book in playbooks.items()
        if _once_key(incident_id, book) not in known and book.matches(compromise)
    }


def start_matching_runs(
    session: Session,
    *,
    incident: IncidentRow,
    event: EventRow,
    playbooks: Mapping[str, Playbook],
    now: datetime,
    inline: InlineSteps | None = None,
    known: set[str] | None = None,
) -> list[str]:
    """Start every playbook whose trigger matches ``event``, once per incident and playbook.

    With ``inline`` (a worker's runner) each run's first engine pass happens in this
    transaction, so a first step that engages the kill switch commits with the incident.
    ``known`` collects the once keys found or started, for ``unstarted`` to skip next time.
    """
    started: list[str] = []
    known = set() if known is None else known
    compromise = event.to_event(with_raw=False)
    for playbook in playbooks.values():
        if not playbook.matches(compromise):
            continue
        once_key = _once_key(incident.id, playbook)
        known.add(once_key)
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


def process_advance(transaction: Transaction, *, outbox_id: int, inline: InlineSteps | None = None) -> None:
    """Worker entry for ``run.advance``: apply the engine to the run; a redelivery is a no-op.

    What the card shows of it (an approval asked or decided) reaches the card through the news
    the engine writes (``incident.news``), never from here."""
    with transaction() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return
        run = service.get_run(session, run_id=row.ref_id, for_update=True)
        if run.status == "running":
            advance(session, run=run, now=clock.utcnow(), inline=inline)
        outbox.complete(row, clock.utcnow())


def wake_due_runs(transaction: Transaction) -> int:
    """Scheduler job: enqueue an advance for each running run whose wake time has come."""
    now = clock.utcnow()
    with transaction() as session:
        runs = list(session.scalars(select(RunRow).where(RunRow.status == "running", RunRow.wake_at <= now)))
        for run in runs:
            run.wake_at = None
            outbox.enqueue(session, topic=ADVANCE, ref_id=run.id, now=now)
    return len(runs)


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
        incident_id = service.followed_incident(run)
        news.tell(session, incident_id=incident_id, what="run.finished", at=now, run_id=run.id)


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
