"""Run and StepRun tables: a run stores the parsed playbook it started with, and each step's state."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.playbooks.engine import StepState
from orchestrator.store.db import Base, UTCDateTime

if TYPE_CHECKING:
    from orchestrator.incidents.models import IncidentRow

__all__ = ["RunRow", "StepRunRow"]


class RunRow(Base):
    """One run of one playbook. ``once_key`` (incident:playbook) is unique for event-started
    runs, so a run never starts twice for the same incident and playbook."""

    __tablename__ = "playbook_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    playbook_name: Mapped[str] = mapped_column(String(128))
    playbook_hash: Mapped[str] = mapped_column(String(80))
    playbook: Mapped[dict[str, Any]] = mapped_column(JSON)
    incident_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("incidents.id"), nullable=True)
    # Never read: it tells the unit of work to insert a new incident before the rows naming it.
    incident: Mapped[IncidentRow | None] = relationship("IncidentRow", lazy="raise")
    event_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    once_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    started_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "playbook": self.playbook_name,
            "playbook_hash": self.playbook_hash,
            "incident_id": self.incident_id,
            "inputs": self.inputs,
            "status": self.status,
            "dry_run": self.dry_run,
            "started_by": self.started_by,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class StepRunRow(Base):
    """The stored state of one step of one run (what the engine's StepState mirrors)."""

    __tablename__ = "step_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("playbook_runs.id"))
    step_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approval_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approval: Mapped[str | None] = mapped_column(String(16), nullable=True)
    approval_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    retryable: Mapped[bool] = mapped_column(Boolean, default=True)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (UniqueConstraint("run_id", "step_id", name="uq_step_runs_run_step"),)

    def state(self) -> StepState:
        return StepState(
            status=self.status,
            attempt=self.attempt,
            started_at=self.started_at,
            finished_at=self.finished_at,
            next_attempt_at=self.next_attempt_at,
            approval_requested_at=self.approval_requested_at,
            approval=self.approval,
            retryable=self.retryable,
        )

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "step": self.step_id,
            "status": self.status,
            "attempt": self.attempt,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "approval": self.approval,
            "approval_by": self.approval_by,
            "output": self.output,
            "error": self.error,
        }
