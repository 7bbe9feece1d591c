"""TimelineEntry table: append-only; each row carries the hash of its predecessor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.db import Base, UTCDateTime

__all__ = ["SYSTEM_CHAIN", "TimelineEntryRow"]

SYSTEM_CHAIN = "system"
"""Chain for facts that belong to no incident (kill-switch changes made by hand)."""


class TimelineEntryRow(Base):
    """One fact. ``chain`` is the incident id (or ``system``); ``seq`` counts from 1."""

    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    # The sentinel lets SQLite insert a flush's entries in one statement: with only a server-made
    # id, SQLAlchemy inserts them one by one to know which id went to which row.
    hash: Mapped[str] = mapped_column(String(64), insert_sentinel=True)

    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_timeline_chain_seq"),)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "message": self.message,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
