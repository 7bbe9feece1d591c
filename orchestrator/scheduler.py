"""The scheduler: periodic jobs that keep promises the store holds (the outbox relay first).

Jobs are plain functions run in order every tick; a failing job is logged and the
loop goes on, because this process is what recovers from everyone else's failures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from orchestrator import clock, dead_letters, heartbeats, retention
from orchestrator.chatops import card_sync
from orchestrator.drill import schedule as drill_schedule
from orchestrator.errors import ConfigError
from orchestrator.evidence.sweep import CheckpointSweep
from orchestrator.logging import get_logger
from orchestrator.playbooks import decisions
from orchestrator.playbooks import flows as playbook_flows
from orchestrator.store import outbox
from orchestrator.switch import flows as switch_flows
from orchestrator.worker.app import publisher
from orchestrator.worker.runtime import Runtime

__all__ = ["Job", "every", "jobs_for", "run_scheduler"]

log = get_logger(__name__)

Job = Callable[[], object]


def jobs_for(runtime: Runtime) -> list[Job]:
    """Every periodic job of the orchestrator, bound to a runtime."""
    publish = publisher(runtime.celery)

    def relay() -> int:
        return outbox.relay_once(
            runtime.store,
            publish,
            now=clock.utcnow(),
            redeliver_after=runtime.settings.redeliver_after_seconds,
            max_attempts=runtime.settings.outbox_max_attempts,
            on_dead=dead_letters.note_dead,
        )

    def wake_runs() -> int:
        return playbook_flows.wake_due_runs(runtime.transaction)

    def remind_manual_steps() -> int:
        return decisions.remind_due_steps(runtime.transaction)

    def sync_switch_mirrors() -> object:
        # The guard fails closed: keep its file (and Redis key) present and true.
        return switch_flows.sync_mirrors(runtime.store, runtime.settings)

    def apply_retention() -> dict[str, int]:
        purged = retention.sweep(
            runtime.store,
            now=clock.utcnow(),
            keep=timedelta(days=runtime.settings.retention_days),
            batch=runtime.settings.retention_batch_size,
        )
        if any(purged.values()):
            log.info("retention: deleted what is past it", **purged)
        return purged

    try:  # made at the first start, not when the first incident needs it: hand it out before then
        runtime.evidence_key()
    except ConfigError as exc:  # the sweep retries each tick and says so; the relay must not wait
        log.error("evidence key unreadable: heads go unsigned until it is", error=str(exc))
    cards = runtime.settings.slack_bot_token is not None  # no Slack, no card: owe it no refresh
    sweep = CheckpointSweep(runtime.store, runtime.evidence_key, cards=cards)

    def sign_checkpoints() -> int:
        return sweep()

    return [
        relay,
        wake_runs,
        every(5.0, remind_manual_steps),
        every(retention.EVERY_SECONDS, apply_retention),
        every(10.0, sync_switch_mirrors),
        every(2.0, card_sync.flusher(runtime)),
        every(1.0, sign_checkpoints),
        every(60.0, lambda: drill_schedule.start_if_due(runtime)),
    ]


def every(seconds: float, job: Job) -> Job:
    """``job`` run at most once per ``seconds`` (the first tick runs it)."""
    last = [float("-inf")]

    def throttled() -> object:
        now = clock.monotonic()
        if now - last[0] < seconds:
            return None
        last[0] = now
        return job()

    throttled.__name__ = job.__name__
    return throttled


def run_scheduler(runtime: Runtime, stop: threading.Event) -> None:
    """Run every job each ``relay_interval_seconds`` until ``stop`` is set, beating the
    scheduler's heartbeat (deleted when it stops)."""
    me = heartbeats.Beat("scheduler")

    def heartbeat() -> None:
        # Beaten from the loop itself, not a thread: a wedged loop stops beating and /readyz says so.
        heartbeats.beat(runtime.store, me)

    jobs = [*jobs_for(runtime), every(heartbeats.BEAT_SECONDS, heartbeat)]
    log.info("scheduler started", jobs=[job.__name__ for job in jobs])
    while not stop.is_set():
        for job in jobs:
            try:
                job()
            except Exception as exc:
                log.warning("scheduled job failed; will retry", job=job.__name__, error=str(exc))
        stop.wait(runtime.settings.relay_interval_seconds)
    try:
        heartbeats.forget(runtime.store, me)
    except Exception as exc:  # the row goes stale instead
        log.warning("heartbeat not removed", error=type(exc).__name__)
