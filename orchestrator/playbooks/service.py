"""Store functions for runs and step runs (keyword-only; the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import ids
from orchestrator.errors import NotFound
from orchestrator.playbooks.engine import StepState
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.playbooks.schemas import Playbook
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

ADVANCE = "run.advance"

__all__ = [
    "ADVANCE",
    "finish_awaited_step",
    "followed_incident",
    "get_run",
    "get_step",
    "list_runs",
    "new_run_id",
    "record_outcome",
    "run_chain",
    "snapshot",
    "states",
    "step_outputs",
    "step_rows",
]


def new_run_id() -> str:
    return "run-" + ids.random_hex(12)


def followed_incident(run: RunRow) -> str | None:
    """The incident whose people hear the run's news (``incidents/news.py``); none for a dry run."""
    return None if run.dry_run else run.incident_id


def run_chain(run: RunRow) -> str:
    """The timeline a run writes to: its incident's, or its own for a run with no incident."""
    return run.incident_id or run.id


def snapshot(run: RunRow) -> Playbook:
    """The playbook exactly as it was when the run started (editing the YAML changes nothing)."""
    return Playbook.model_validate(run.playbook)


def get_run(session: Session, *, run_id: str, for_update: bool = False) -> RunRow:
    """The run by id or unique prefix; NotFound names it."""
    run = session.get(RunRow, run_id, with_for_update=for_update)
    if run is None and len(run_id) >= 5:
        matches = list(session.scalars(select(RunRow.id).where(RunRow.id.startswith(run_id)).limit(2)))
        if len(matches) == 1:
            run = session.get(RunRow, matches[0], with_for_update=for_update)
    if run is None:
        raise NotFound(f"no run with id '{run_id}'")
    return run


def list_runs(
    session: Session, *, incident_id: str | None = None, status: str | None = None, limit: int = 50
) -> Sequence[RunRow]:
    """Newest first."""
    query = select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)
    if incident_id:
        query = query.where(RunRow.incident_id == incident_id)
    if status:
        query = query.where(RunRow.status == status)
    return list(session.scalars(query))


def step_rows(session: Session, *, run_id: str) -> dict[str, StepRunRow]:
    """Every stored step of a run by step id."""
    rows = session.scalars(select(StepRunRow).where(StepRunRow.run_id == run_id).order_by(StepRunRow.id))
    return {row.step_id: row for row in rows}


def get_step(session: Session, *, run_id: str, step_id: str, for_update: bool = False) -> StepRunRow:
    """One step of a run; NotFound names the run and step."""
    query = select(StepRunRow).where(StepRunRow.run_id == run_id, StepRunRow.step_id == step_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"run '{run_id}' has no step '{step_id}'")
    return row


def states(rows: dict[str, StepRunRow]) -> dict[str, StepState]:
    return {step_id: row.state() for step_id, row in rows.items()}


def step_outputs(rows: dict[str, StepRunRow]) -> dict[str, dict[str, Any]]:
    """What templates see as ``steps.<id>``: status, output and error of every step so far."""
    return {
        step_id: {"status": row.status, "output": row.output or {}, "error": row.error}
        for step_id, row in rows.items()
    }


def record_outcome(
    session: Session,
    *,
    run: RunRow,
    row: StepRunRow,
    action: str,
    output: dict[str, Any] | None,
    error: str | None,
    retryable: bool,
    duration_ms: int,
    now: datetime,
) -> None:
    """Finish a running step as succeeded (``error`` None) or failed, with its timeline entry."""
    row.finished_at, row.lease_until = now, None
    data: dict[str, Any] = {
        "run_id": run.id,
        "step": row.step_id,
        "action": action,
        "attempt": row.attempt,
        "duration_ms": duration_ms,
    }
    if error is None:
        row.status, row.output = "succeeded", output
        kind, message = kinds.STEP_SUCCEEDED, f"Step {row.step_id} succeeded in {duration_ms} ms"
        data["output"] = output
    else:
        row.status, row.error, row.retryable = "failed", error, retryable
        kind, message = kinds.STEP_FAILED, f"Step {row.step_id} failed: {error}"
        data.update(error=error, retryable=retryable)
    timeline.append_entry(
        session,
        chain=run_chain(run),
        actor=f"playbook:{run.playbook_name}",
        kind=kind,
        message=message,
        data=data,
        at=now,
    )


def finish_awaited_step(
    session: Session, *, key: str, output: dict[str, Any] | None, error: str | None, now: datetime
) -> bool:
    """Record the outcome of the step ``key`` (run_id:step_id) whose action answered ``Awaiting``,
    and advance its run; False when the step is no longer running (timed out, cancelled, rerun,
    or already finished by the worker that started it)."""
    run_id, _, step_id = key.partition(":")
    run = session.get(RunRow, run_id)
    row = session.scalars(
        select(StepRunRow).where(StepRunRow.run_id == run_id, StepRunRow.step_id == step_id).with_for_update()
    ).first()
    if run is None or row is None or row.status != "running":
        return False
    started = row.started_at or now
    record_outcome(
        session,
        run=run,
        row=row,
        action=snapshot(run).step(step_id).action,
        output=output,
        error=error,
        retryable=False,
        duration_ms=int((now - started).total_seconds() * 1000),
        now=now,
    )
    outbox.enqueue(session, topic=ADVANCE, ref_id=run_id, now=now)
    return True
