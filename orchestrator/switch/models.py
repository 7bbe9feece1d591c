"""The kill_switch table: the all-apps switch (row id 1, ``app`` null) and one row per app that
was ever engaged (``app`` its configured name)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.db import Base, UTCDateTime

__all__ = ["SWITCH_ROW_ID", "KillSwitchRow"]

SWITCH_ROW_ID = 1


class KillSwitchRow(Base):
    """The switch; ``version`` grows by one on every change so mirrors can drop stale writes."""

    __tablename__ = "kill_switch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One row per app: rows are made under the lock of row 1 (``service._locked``); a handful of
    # rows needs no index.
    app: Mapped[str | None] = mapped_column(String(64), nullable=True)
    engaged: Mapped[bool] = mapped_column(Boolean, default=False)
    by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
