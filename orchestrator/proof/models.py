"""Proof tables: verifications (a probed sample), each proof by fingerprint, and census snapshots.

A proof is one piece of evidence about one token, by SHA-256 fingerprint and open_id, never
the token: a user-info probe (``probe``) or TikTok's ``authorization.removed`` webhook
(``receipt``). ``result`` is ``pending`` (sampled, not probed yet), ``dead`` (confirmed dead),
``alive`` (the token still works), ``gone`` (TikTok says the user left) or ``unknown``
(TikTok did not answer clearly).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store.db import Base, UTCDateTime

__all__ = ["CensusRow", "ProofRow", "VerificationRow"]


class VerificationRow(Base):
    """One ``tiktok.verify_revoked`` step (``key`` is run_id:step_id): its sample and its verdict."""

    __tablename__ = "proof_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    chain: Mapped[str] = mapped_column(String(64))
    revocation_id: Mapped[str] = mapped_column(String(32))
    sample_size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="probing")
    escalate: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_proof_verifications_chain", "chain"),)


class ProofRow(Base):
    """One piece of evidence about one token (of the TikTok app ``app``) of one revocation."""

    __tablename__ = "proof_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revocation_id: Mapped[str] = mapped_column(String(32))
    verification_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    app: Mapped[str] = mapped_column(String(64), server_default=text("'default'"), default=DEFAULT_APP)
    fingerprint: Mapped[str] = mapped_column(String(64))
    open_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(16), default="pending")
    detail: Mapped[str | None] = mapped_column(String(200), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_proof_results_revocation", "revocation_id", "fingerprint"),
        Index("ix_proof_results_verification", "verification_id", "result"),
    )


class CensusRow(Base):
    """A count of the tokens in scope at one moment of an incident (or of a run without one)."""

    __tablename__ = "proof_census"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(40))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_proof_census_chain", "chain", "id"),)
