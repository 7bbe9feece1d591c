"""Thin Celery tasks: an outbox id in, one flow call; no SQL or HTTP here.

Each task takes the process's runtime first: ``register(app, runtime)`` binds them to the Celery
app the runtime built, so a task reads nothing process-global, and a test calls one with the
runtime it made (``tasks.advance_run(runtime, outbox_id)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import structlog
from celery import Celery

from orchestrator import heartbeats, redaction
from orchestrator.chatops import card_sync, room_news
from orchestrator.incidents import flows as incident_flows
from orchestrator.inventory.factory import opened_inventories
from orchestrator.logging import bind_ids, get_logger
from orchestrator.paging import flows as paging_flows
from orchestrator.playbooks import execute as step_execution
from orchestrator.playbooks import flows as playbook_flows
from orchestrator.playbooks.inline import inline_steps
from orchestrator.ports import Ports
from orchestrator.revocation import batch as revocation_batch
from orchestrator.revocation import flows as revocation_flows
from orchestrator.routing import ROUTES
from orchestrator.store import marks, outbox
from orchestrator.worker.follow_ups import running_follow_ups

__all__ = ["advance_run", "correlate_event", "execute_step", "register", "revoke_batch", "take_in_apps"]

log = get_logger(__name__)


def _fresh_context(outbox_id: int) -> None:
    structlog.contextvars.clear_contextvars()
    bind_ids(outbox_id=str(outbox_id))


def _follow_ups(rt: Ports) -> Callable[[str, int], None]:
    """Do an owed engine pass here and now (see ``FOLLOW_UP_TOPICS``), keeping the log context."""

    def follow_up(_topic: str, outbox_id: int) -> None:
        saved = structlog.contextvars.get_contextvars()
        try:
            advance_run(rt, outbox_id)
        finally:
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**saved)

    return follow_up


def correlate_event(rt: Ports, *outbox_ids: int) -> None:
    """Correlate received events (one message carries an intake batch) into incidents and start
    matching playbooks, in one commit."""
    _fresh_context(outbox_ids[0])
    with running_follow_ups(_follow_ups(rt)):
        incident_flows.process_received_events(
            rt.transaction,
            outbox_ids=outbox_ids,
            window_seconds=rt.settings.correlation_window_seconds,
            playbooks=rt.playbooks,
            inline=inline_steps(rt),
            settings=rt.settings,
        )


def advance_run(rt: Ports, outbox_id: int) -> None:
    """Apply the engine to one run (start due steps, retries, timeouts, approvals)."""
    _fresh_context(outbox_id)
    with running_follow_ups(_follow_ups(rt)):
        playbook_flows.process_advance(rt.transaction, outbox_id=outbox_id, inline=inline_steps(rt))


def execute_step(rt: Ports, outbox_id: int) -> None:
    """Run one step's action and record its outcome."""
    _fresh_context(outbox_id)
    with running_follow_ups(_follow_ups(rt)):
        step_execution.execute_step(rt, outbox_id=outbox_id)


def revoke_batch(rt: Ports, outbox_id: int) -> None:
    """Revoke one batch of tokens of a mass revocation."""
    _fresh_context(outbox_id)
    with running_follow_ups(_follow_ups(rt)):
        revocation_batch.revoke_batch(rt, outbox_id=outbox_id)


def take_in_apps(rt: Ports, outbox_id: int) -> None:
    """An incident extended to another app: its revocations still running take that app in."""
    _fresh_context(outbox_id)
    with running_follow_ups(_follow_ups(rt)):
        revocation_flows.take_in_apps(
            rt, outbox_id=outbox_id, open_inventories=functools.partial(opened_inventories, rt.settings)
        )


def resolve_pages(rt: Ports, outbox_id: int) -> None:
    """Resolve the pages of an incident that was resolved."""
    _fresh_context(outbox_id)
    paging_flows.resolve_pages(rt, outbox_id=outbox_id)


def tell_room(rt: Ports, outbox_id: int) -> None:
    """Post one piece of an incident's news in its Slack room (or drop it: no room, Slack off)."""
    _fresh_context(outbox_id)
    room_news.post_news(rt, outbox_id=outbox_id)


def refresh_incident_card(rt: Ports, outbox_id: int) -> None:
    """An incident changed (a revocation's progress, its end): its card shows it."""
    _fresh_context(outbox_id)
    card_sync.refresh_changed_card(rt, outbox_id=outbox_id)


def refresh_open_cards(rt: Ports, outbox_id: int) -> None:
    """The kill switch changed: every open incident's card shows it (the switch is global)."""
    _fresh_context(outbox_id)
    card_sync.refresh_open_cards(rt, outbox_id=outbox_id)


def _recording_failures(rt: Ports, function: Callable[..., None]) -> Callable[..., None]:
    """The task bound to ``rt``, writing why it failed to its outbox rows (``last_error``,
    redacted) before the error goes on to Celery: the relay resends the rows, and the operator
    who finds them dead-lettered reads the cause there, not in some worker's log. The rows carry
    this process's mark while it runs them (``marks.begin``/``end``): a worker killed on them
    writes nothing, the next one to start them writes that death."""

    @functools.wraps(function)
    def task(*outbox_ids: int) -> None:
        me = heartbeats.this_process()
        marks.begin(rt.store, outbox_ids, me, heartbeats.live_processes)
        try:
            function(rt, *outbox_ids)
        except Exception as exc:
            error = redaction.redact_text(f"{type(exc).__name__}: {exc}")
            try:
                outbox.record_failure(rt.store, outbox_ids, error)
            except Exception as unrecorded:  # the store is what failed: the log has to do
                log.warning("task failure not recorded", error=error, why=type(unrecorded).__name__)
            raise
        finally:
            try:
                marks.end(rt.store, outbox_ids, me)
            except Exception as unmarked:  # the store is down: the mark stays until the next start
                log.warning("task mark not cleared", why=type(unmarked).__name__)

    return task


_TASKS = (
    (correlate_event, "event.received"),
    (advance_run, "run.advance"),
    (execute_step, "step.execute"),
    (revoke_batch, "revocation.batch"),
    (take_in_apps, "incident.extended"),
    (resolve_pages, "incident.resolved"),
    (tell_room, "incident.news"),
    (refresh_open_cards, "switch.changed"),
    (refresh_incident_card, "incident.changed"),
)


def register(app: Celery, rt: Ports) -> None:
    """Bind every task to ``app`` and the runtime ``rt`` under its stable name (one task may
    serve several queues). Not shared: Celery would hand a shared task to every app made
    later in the process, each runtime's tasks to the others' apps."""
    for function, topic in _TASKS:
        bound = _recording_failures(rt, function)
        app.task(name=ROUTES[topic].task, acks_late=True, ignore_result=True, shared=False)(bound)
