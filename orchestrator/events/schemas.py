"""CompromiseEvent and its parts: typed data every source normalises into, no I/O."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator import ids

__all__ = [
    "CompromiseEvent",
    "Entities",
    "EventStatus",
    "Severity",
]


class Severity(StrEnum):
    """The project's one severity scale, ordered from least to most urgent."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANKS = {s: i for i, s in enumerate(Severity)}

EventStatus = Literal["firing", "resolved"]


class Entities(BaseModel):
    """What an event is about; every list is deduplicated and order-preserving."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    hosts: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    open_ids: list[str] = Field(default_factory=list)
    client_keys: list[str] = Field(default_factory=list)


class CompromiseEvent(BaseModel):
    """One normalised signal of a possible compromise.

    ``dedup_key`` is the alert's identity at its source (never a delivery id), so
    that re-sent alerts and storms collapse into one incident. ``raw`` is the
    original body, bounded and with token-like values redacted.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=ids.random_hex)
    source: str
    kind: str
    severity: Severity
    title: str
    observed_at: datetime
    received_at: datetime
    dedup_key: str
    status: EventStatus = "firing"
    entities: Entities = Field(default_factory=Entities)
    labels: dict[str, str] = Field(default_factory=dict)
    source_ref: str | None = None
    raw: dict[str, Any] | list[Any] | None = None
