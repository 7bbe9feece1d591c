"""The send-once ledgers: a message is claimed (``sending``) before it is sent and marked ``sent``
after, so a worker killed in between is retried without a second copy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.db import Base, UTCDateTime

__all__ = ["DeliveryRow", "TikTokReportRow"]


class _Ledger:
    """Columns of a send-once ledger: claimed (``sending``) before sending, ``sent`` after."""

    status: Mapped[str] = mapped_column(String(16), default="sending")
    message_id: Mapped[str] = mapped_column(String(255))
    recipient: Mapped[str] = mapped_column(Text, default="")
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryRow(_Ledger, Base):
    """An ``email.send`` by idempotency key: the same key never sends twice."""

    __tablename__ = "email_deliveries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)


class TikTokReportRow(_Ledger, Base):
    """The report to TikTok, one row per incident and channel (``email`` or ``http``)."""

    __tablename__ = "tiktok_reports"

    incident_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
