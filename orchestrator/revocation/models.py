"""Revocation, batch and ledger tables: progress lives in the store, so a restart resumes.

The ledger holds one row per token of a revocation, by SHA-256 fingerprint and open_id;
never the token. A row moves pending -> sending -> revoked | already_dead | failed |
grant_lost | gone; ``sending`` is claimed by one worker at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.db import Base, UTCDateTime

__all__ = ["FINAL_OUTCOMES", "BatchRow", "LedgerRow", "RevocationRow"]

FINAL_OUTCOMES = ("revoked", "already_dead", "failed", "grant_lost", "gone")


class RevocationRow(Base):
    """One mass revocation (one per step of a run: ``key`` is run_id:step_id)."""

    __tablename__ = "revocations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("incidents.id"), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    priority_open_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="planning")
    planned: Mapped[int] = mapped_column(Integer, default=0)
    plan_done: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_per_s: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alarm: Mapped[str | None] = mapped_column(Text, nullable=True)


class BatchRow(Base):
    """A slice of the ledger (its open_ids) handed to one task on the revocation queue."""

    __tablename__ = "revocation_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revocation_id: Mapped[str] = mapped_column(String(32), ForeignKey("revocations.id"))
    open_ids: Mapped[list[str]] = mapped_column(JSON)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_revocation_batches_revocation", "revocation_id", "done"),)


class LedgerRow(Base):
    """One token's fate in one revocation, by fingerprint."""

    __tablename__ = "revocation_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revocation_id: Mapped[str] = mapped_column(String(32), ForeignKey("revocations.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    open_id: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    log_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("revocation_id", "fingerprint", name="uq_ledger_revocation_fingerprint"),
        Index("ix_ledger_status", "revocation_id", "status"),
        Index("ix_ledger_batch", "batch_id", "status"),
        Index("ix_ledger_fingerprint", "fingerprint"),  # earlier revocations of a token, at planning
    )
