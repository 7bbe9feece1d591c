"""Revocation, batch, ledger and membership tables: progress lives in the store, so a restart resumes.

The ledger is one for every revocation: one row per token, by TikTok app and SHA-256
fingerprint (unique together) and open_id, never the token. A row moves pending -> sending ->
revoked | already_dead | failed | grant_lost | gone; ``sending`` is claimed by one worker at a
time, so a token is sent to TikTok at most once however many incidents want it revoked.
``revocation_members`` says which tokens each revocation's scope holds: a revocation is done
when every member row is settled, by whichever revocation's batch sent it (the ledger row's
``revocation_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store.db import Base, UTCDateTime

__all__ = ["FINAL_OUTCOMES", "UNSETTLED", "BatchRow", "LedgerRow", "MemberRow", "RevocationRow"]

FINAL_OUTCOMES = ("revoked", "already_dead", "failed", "grant_lost", "gone")
UNSETTLED = ("pending", "sending")


class RevocationRow(Base):
    """One mass revocation (one per step of a run: ``key`` is run_id:step_id) of the tokens of
    ``apps`` (the configured app names; null: the app ``default``, as rows before issue 27 were).

    ``milestone`` (tenths settled) and ``slowed`` remember the last progress note written, so the
    batch worker whose commit changes the tally writes the next one; ``noted_at`` spaces those
    looks at the tally to one a second.

    ``alarms`` says, per app, why its revocation stopped (its credentials refused): that app's
    batches send nothing more and its tokens end ``failed``, while the other apps' go on;
    ``alarm`` holds their text together. ``follows_incident``: the revocation covers the apps its
    incident concerns, and takes in an app the incident extends to before it finishes.
    ``planned_apps`` lists the apps whose inventories were planned in full; ``plan_done`` is true
    when every app in ``apps`` is among them.
    """

    __tablename__ = "revocations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("incidents.id"), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    apps: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    priority_open_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="planning")
    planned: Mapped[int] = mapped_column(Integer, default=0)
    plan_done: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_per_s: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alarm: Mapped[str | None] = mapped_column(Text, nullable=True)
    alarms: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    follows_incident: Mapped[bool] = mapped_column(Boolean, default=False)
    planned_apps: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    milestone: Mapped[int] = mapped_column(Integer, default=0)
    slowed: Mapped[bool] = mapped_column(Boolean, default=False)
    noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BatchRow(Base):
    """A slice of the ledger, all of one app, handed to one task on the revocation queue."""

    __tablename__ = "revocation_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revocation_id: Mapped[str] = mapped_column(String(32), ForeignKey("revocations.id"))
    app: Mapped[str] = mapped_column(String(64), server_default=text("'default'"), default=DEFAULT_APP)
    open_ids: Mapped[list[str]] = mapped_column(JSON)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_revocation_batches_revocation", "revocation_id", "done"),)


class LedgerRow(Base):
    """One token's fate, by app and fingerprint, across every revocation.

    ``revocation_id`` and ``batch_id`` name the revocation and batch whose worker sends it;
    ``first`` marks an open_id named by a compromise event, claimed by any batch worker before
    its own rows, whichever revocation planned it.
    """

    __tablename__ = "revocation_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revocation_id: Mapped[str] = mapped_column(String(32), ForeignKey("revocations.id"))
    app: Mapped[str] = mapped_column(String(64), server_default=text("'default'"), default=DEFAULT_APP)
    fingerprint: Mapped[str] = mapped_column(String(64))
    open_id: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    first: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    log_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("uq_ledger_app_fingerprint", "app", "fingerprint", unique=True),  # one row per token, ever
        Index("ix_ledger_batch", "batch_id", "status"),
        Index("ix_ledger_status", "status", "first"),  # unsettled rows; named rows waiting
        Index("ix_ledger_open_id", "open_id"),  # TikTok's receipts name an open_id
        Index("ix_ledger_updated", "updated_at"),  # the last token settled, for /metrics
    )


class MemberRow(Base):
    """A token (ledger row) in a revocation's scope."""

    __tablename__ = "revocation_members"

    revocation_id: Mapped[str] = mapped_column(String(32), ForeignKey("revocations.id"), primary_key=True)
    ledger_id: Mapped[int] = mapped_column(Integer, ForeignKey("revocation_ledger.id"), primary_key=True)

    __table_args__ = (Index("ix_revocation_members_ledger", "ledger_id"),)
