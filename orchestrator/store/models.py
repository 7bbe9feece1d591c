"""Imports every table so the metadata is complete for migrations and tests."""

from __future__ import annotations

from orchestrator.events.models import EventRow
from orchestrator.incidents.models import CorrelationKey, IncidentRow
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.store.db import Base
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline.models import TimelineEntryRow

__all__ = [
    "Base",
    "CorrelationKey",
    "EventRow",
    "IncidentRow",
    "OutboxRow",
    "RunRow",
    "StepRunRow",
    "TimelineEntryRow",
]
