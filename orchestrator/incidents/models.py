"""Incident and correlation-key tables; the lifecycle and its first-class times."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.store.db import Base, UTCDateTime

__all__ = ["CorrelationKey", "IncidentEntityRow", "IncidentRow", "IncidentStatus"]


class IncidentStatus(StrEnum):
    """detected -> contained -> reported -> resolved -> closed."""

    DETECTED = "detected"
    CONTAINED = "contained"
    REPORTED = "reported"
    RESOLVED = "resolved"
    CLOSED = "closed"


class IncidentRow(Base):
    """One incident; ``aware_at`` is when the first event was received (clause III.2(f)).

    ``entities`` holds the first values of each kind (at most ``entities.LIST_MAX``: a storm of a
    million addresses keeps the row small); ``entity_counts`` the exact number of distinct values
    of each kind, kept through ``incident_entities``. ``apps`` names the TikTok apps the incident
    concerns (``incidents.apps``); null: every app."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(512), index=True)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.DETECTED.value)
    source: Mapped[str] = mapped_column(String(64))
    entities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    entity_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, server_default="{}")
    apps: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    resolved_signals: Mapped[int] = mapped_column(Integer, default=0)
    is_drill: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    aware_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def entity_totals(self) -> dict[str, int]:
        """Distinct values of each kind: the exact counts, or a list's length where none is kept."""
        listed = {name: len(values) for name, values in (self.entities or {}).items()}
        return listed | (self.entity_counts or {})

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the API and CLI (times as RFC 3339)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "source": self.source,
            "dedup_key": self.dedup_key,
            "entities": self.entities,
            "entity_counts": self.entity_counts or {},
            "event_count": self.event_count,
            "is_drill": self.is_drill,
            "summary": self.summary,
            "aware_at": iso(self.aware_at),
            "last_event_at": iso(self.last_event_at),
            "disconnected_at": iso(self.disconnected_at),
            "revoked_at": iso(self.revoked_at),
            "reported_at": iso(self.reported_at),
            "resolved_at": iso(self.resolved_at),
            "closed_at": iso(self.closed_at),
        }


class IncidentEntityRow(Base):
    """A distinct entity value an incident has seen, by SHA-256 digest (the value itself is in the
    event that named it): what keeps ``entity_counts`` exact once the lists stop growing. No
    foreign key: its rows are written before the flush that inserts a new incident."""

    __tablename__ = "incident_entities"

    incident_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)


class CorrelationKey(Base):
    """Which incident a dedup key currently feeds; the primary key serialises correlation."""

    __tablename__ = "correlation_keys"

    dedup_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(32), ForeignKey("incidents.id"))
    # Never read: it tells the unit of work to insert a new incident before the rows naming it.
    incident: Mapped[IncidentRow] = relationship("IncidentRow", lazy="raise")
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
