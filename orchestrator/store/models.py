"""Imports every table so the metadata is complete for migrations and tests."""

from __future__ import annotations

from orchestrator.chatops.models import ReleaseRequestRow, SlackPostRow, SlackRoomRow
from orchestrator.events.models import EventRow
from orchestrator.heartbeats import HeartbeatRow
from orchestrator.inbound.replay import ReplayKeyRow
from orchestrator.incidents.models import CorrelationKey, IncidentRow
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.proof.models import CensusRow, ProofRow, VerificationRow
from orchestrator.ratelimit import RateLimitRow
from orchestrator.reporting.models import DeliveryRow, TikTokReportRow
from orchestrator.revocation.models import BatchRow, LedgerRow, MemberRow, RevocationRow
from orchestrator.store.db import Base
from orchestrator.store.outbox import OutboxRow
from orchestrator.switch.models import KillSwitchRow
from orchestrator.timeline.checkpoints import CheckpointRow
from orchestrator.timeline.models import TimelineEntryRow

__all__ = [
    "Base",
    "BatchRow",
    "CensusRow",
    "CheckpointRow",
    "CorrelationKey",
    "DeliveryRow",
    "EventRow",
    "HeartbeatRow",
    "IncidentRow",
    "KillSwitchRow",
    "LedgerRow",
    "MemberRow",
    "OutboxRow",
    "ProofRow",
    "RateLimitRow",
    "ReleaseRequestRow",
    "ReplayKeyRow",
    "RevocationRow",
    "RunRow",
    "SlackPostRow",
    "SlackRoomRow",
    "StepRunRow",
    "TikTokReportRow",
    "TimelineEntryRow",
    "VerificationRow",
]
