"""Which task and queue serve each outbox topic: the one routing table."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["QUEUES", "ROUTES", "Route"]

QUEUES = ("events", "playbooks", "revocation", "notifications")
"""Separate queues so a mass revocation never delays intake or a Slack message."""


class Route(NamedTuple):
    task: str
    queue: str


ROUTES: dict[str, Route] = {
    "event.received": Route("orchestrator.correlate_event", "events"),
}
