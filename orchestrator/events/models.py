"""The events table: every accepted CompromiseEvent, as received, before correlation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.events.schemas import CompromiseEvent, Entities, Severity
from orchestrator.store.db import Base, UTCDateTime

if TYPE_CHECKING:
    from orchestrator.incidents.models import IncidentRow

__all__ = ["EventRow"]


class EventRow(Base):
    """One accepted event; ``incident_id`` is set once a worker has correlated it."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="firing")
    title: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str] = mapped_column(String(512))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    raw: Mapped[Any] = mapped_column(JSON, nullable=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("incidents.id"), nullable=True)
    # Never read: it tells the unit of work to insert a new incident before the rows naming it.
    incident: Mapped[IncidentRow | None] = relationship("IncidentRow", lazy="raise")

    __table_args__ = (
        Index("ix_events_incident", "incident_id"),
        # the retention sweep's: events whose raw body is still kept, oldest first
        Index(
            "ix_events_raw_kept",
            "received_at",
            sqlite_where=text("raw IS NOT NULL"),
            postgresql_where=text("raw IS NOT NULL"),
        ),
    )

    @classmethod
    def from_event(cls, event: CompromiseEvent) -> EventRow:
        return cls(**cls.values_of(event))

    @staticmethod
    def values_of(event: CompromiseEvent) -> dict[str, Any]:
        """The row's column values, for a multi-row INSERT without ORM objects (the intake's)."""
        return dict(
            id=event.id,
            source=event.source,
            kind=event.kind,
            severity=event.severity.value,
            status=event.status,
            title=event.title,
            dedup_key=event.dedup_key,
            observed_at=event.observed_at,
            received_at=event.received_at,
            entities=event.entities.model_dump(),
            labels=dict(event.labels),
            source_ref=event.source_ref,
            raw=event.raw,
            incident_id=None,
        )

    def to_event(self, *, with_raw: bool = True) -> CompromiseEvent:
        """The event as intake accepted it; without ``with_raw`` the raw body is left unread (a
        correlating worker does not load it, and matching a playbook never reads it)."""
        return CompromiseEvent(
            id=self.id,
            source=self.source,
            kind=self.kind,
            severity=Severity(self.severity),
            status="resolved" if self.status == "resolved" else "firing",
            title=self.title,
            dedup_key=self.dedup_key,
            observed_at=self.observed_at,
            received_at=self.received_at,
            entities=Entities.model_validate(self.entities or {}),
            labels=dict(self.labels or {}),
            source_ref=self.source_ref,
            raw=self.raw if with_raw else None,
        )
