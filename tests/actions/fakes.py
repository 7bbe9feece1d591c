"""Fakes of the action ports and a local HTTP receiver's record types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeTimeline", "Received", "Receiver"]


@dataclass
class FakeTimeline:
    """Records what actions append, as the real timeline writer would receive it."""

    entries: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)

    def append(self, kind: str, message: str, data: dict[str, Any], actor: str) -> None:
        self.entries.append((kind, message, data, actor))


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: ``/status/<code>`` answers with that code."""

    url: str
    requests: list[Received]
