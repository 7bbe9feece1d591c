"""Which task and queue serve each outbox topic: the one routing table."""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "BATCHED_TOPICS",
    "FOLLOW_UP_TOPICS",
    "QUEUES",
    "REVOCATION_QUEUE",
    "ROUTES",
    "Route",
    "step_topic",
]

REVOCATION_QUEUE = "revocation"
"""Mass revocations: the revoke step and its batches (``orchestrator up`` gives it processes of its own)."""
QUEUES = ("events", "playbooks", REVOCATION_QUEUE, "notifications")
"""Separate queues so a mass revocation never delays intake or a Slack message."""


class Route(NamedTuple):
    task: str
    queue: str


EXECUTE_STEP = "orchestrator.execute_step"

ROUTES: dict[str, Route] = {
    "event.received": Route("orchestrator.correlate_event", "events"),
    "run.advance": Route("orchestrator.advance_run", "playbooks"),
    "step.execute": Route(EXECUTE_STEP, "playbooks"),
    "step.execute.switch": Route(EXECUTE_STEP, "playbooks"),  # rows owed before switch steps ran inline
    "step.execute.revocation": Route(EXECUTE_STEP, "revocation"),
    "step.execute.notifications": Route(EXECUTE_STEP, "notifications"),
    "revocation.batch": Route("orchestrator.revoke_batch", "revocation"),
    "incident.extended": Route("orchestrator.take_in_apps", "revocation"),  # incidents/apps.py
    "incident.resolved": Route("orchestrator.resolve_pages", "notifications"),
    "incident.news": Route("orchestrator.tell_room", "notifications"),  # incidents/news.py
    "switch.changed": Route("orchestrator.refresh_open_cards", "notifications"),
    "incident.changed": Route("orchestrator.refresh_incident_card", "notifications"),
}

BATCHED_TOPICS = frozenset({"event.received"})
"""Topics whose task takes several outbox ids in one message: the intake publishes each group
commit as one message, not one per event (a Celery send costs the API more than the commit)."""

FOLLOW_UP_TOPICS = frozenset({"run.advance"})
"""Work a worker does itself, in the same thread, right after the transaction that owed it
commits: an engine pass is short and local, and the next step of a run waits on it, so it
skips the broker (two hops, up to a poll interval each). The kill switch needs no hop at all:
its step runs inside the engine pass that starts it (``playbooks/inline.py``)."""

_REVOCATION_ACTIONS = frozenset({"tiktok.revoke_tokens", "tiktok.purge", "tiktok.verify_revoked"})
_NOTIFICATION_PREFIXES = ("slack.", "email.", "webhook.", "http.", "page.")


def step_topic(action: str) -> str:
    """The outbox topic for a step running ``action``: long revocations and slow
    notifications get queues of their own so neither delays other steps."""
    if action in _REVOCATION_ACTIONS:
        return "step.execute.revocation"
    if action.startswith(_NOTIFICATION_PREFIXES) or action == "tiktok.report":
        return "step.execute.notifications"
    return "step.execute"
