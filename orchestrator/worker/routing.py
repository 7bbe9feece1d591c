"""Which task and queue serve each outbox topic: the one routing table."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["QUEUES", "ROUTES", "Route", "step_topic"]

QUEUES = ("events", "playbooks", "revocation", "notifications")
"""Separate queues so a mass revocation never delays intake or a Slack message."""


class Route(NamedTuple):
    task: str
    queue: str


EXECUTE_STEP = "orchestrator.execute_step"

ROUTES: dict[str, Route] = {
    "event.received": Route("orchestrator.correlate_event", "events"),
    "run.advance": Route("orchestrator.advance_run", "playbooks"),
    "step.execute": Route(EXECUTE_STEP, "playbooks"),
    "step.execute.revocation": Route(EXECUTE_STEP, "revocation"),
    "step.execute.notifications": Route(EXECUTE_STEP, "notifications"),
    "revocation.batch": Route("orchestrator.revoke_batch", "revocation"),
}

_REVOCATION_ACTIONS = frozenset({"tiktok.revoke_tokens", "tiktok.purge", "tiktok.verify_revoked"})
_NOTIFICATION_PREFIXES = ("slack.", "email.", "webhook.", "http.")


def step_topic(action: str) -> str:
    """The outbox topic for a step running ``action``: long revocations and slow
    notifications get queues of their own so neither delays the kill switch."""
    if action in _REVOCATION_ACTIONS:
        return "step.execute.revocation"
    if action.startswith(_NOTIFICATION_PREFIXES) or action == "tiktok.report":
        return "step.execute.notifications"
    return "step.execute"
