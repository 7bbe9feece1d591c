"""Thin Celery tasks: an id in, one flow call; no SQL or HTTP here."""

from __future__ import annotations

from celery import Celery

from orchestrator.incidents import flows as incident_flows
from orchestrator.logging import bind_ids
from orchestrator.worker import runtime
from orchestrator.worker.routing import ROUTES

__all__ = ["register"]


def correlate_event(outbox_id: int) -> None:
    """Correlate one received event into its incident (a redelivery is a no-op)."""
    rt = runtime.current()
    bind_ids(outbox_id=str(outbox_id))
    incident_flows.process_received_event(
        rt.store, outbox_id=outbox_id, window_seconds=rt.settings.correlation_window_seconds
    )


def register(app: Celery) -> None:
    """Bind every task to ``app`` under its stable name."""
    app.task(name=ROUTES["event.received"].task, acks_late=True, ignore_result=True)(correlate_event)
