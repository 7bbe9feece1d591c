"""The figures ``/metrics`` adds for what has no HTTP of its own: heartbeats and revocation progress.

Read from the store at each scrape, like the rest of ``metrics.py``: each process's heartbeat
age and the live processes per role (``heartbeats.readiness``); tokens waiting to be settled, and
how long no token has been settled while some wait (a revocation that stalls silently, e.g. a
worker holding its claims, shows as a growing value, not a flat one).
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator import heartbeats
from orchestrator.revocation.models import UNSETTLED, LedgerRow, RevocationRow
from orchestrator.store.db import Store

__all__ = ["health_families"]


def health_families(store: Store, now: datetime) -> list[Metric]:
    """Heartbeat and revocation-progress gauges as of ``now`` (one short read of the store)."""
    with store.unit_of_work() as session:
        rows = heartbeats.read_beats(session)
        families = _heartbeat_families(rows, now)
        families += _revocation_families(session, now)
    return families


def _heartbeat_families(rows: list[heartbeats.HeartbeatRow], now: datetime) -> list[Metric]:
    age = GaugeMetricFamily(
        "orchestrator_heartbeat_age_seconds",
        "Seconds since each worker or scheduler process last beat (every 5 s while it runs).",
        labels=["role", "process", "queues"],
    )
    for row in rows:
        age.add_metric([row.role, row.process, row.queues], max(0.0, (now - row.beat_at).total_seconds()))
    alive = GaugeMetricFamily(
        "orchestrator_role_processes",
        "Processes with a fresh heartbeat per role (scheduler, worker:<queue>); 0 fails /readyz.",
        labels=["role"],
    )
    for role, count in heartbeats.readiness(rows, now).alive.items():
        alive.add_metric([role], float(count))
    return [age, alive]


def _revocation_families(session: Session, now: datetime) -> list[Metric]:
    waiting = dict.fromkeys(UNSETTLED, 0)
    counts = session.execute(
        select(LedgerRow.status, func.count())
        .where(LedgerRow.status.in_(UNSETTLED))
        .group_by(LedgerRow.status)
    )
    for status, count in counts:
        waiting[status] = int(count)
    tokens = GaugeMetricFamily(
        "orchestrator_revocation_tokens_unsettled",
        "Tokens a revocation still has to settle: pending, or sending (claimed by a worker).",
        labels=["status"],
    )
    for status, count in waiting.items():
        tokens.add_metric([status], float(count))
    stalled = 0.0
    if sum(waiting.values()):
        settled = session.scalar(
            select(func.max(LedgerRow.updated_at)).where(LedgerRow.status.not_in(UNSETTLED))
        )
        started = session.scalar(
            select(func.min(RevocationRow.created_at)).where(RevocationRow.finished_at.is_(None))
        )
        since = max((t for t in (settled, started) if t is not None), default=now)
        stalled = max(0.0, (now - since).total_seconds())
    return [
        tokens,
        GaugeMetricFamily(
            "orchestrator_revocation_stalled_seconds",
            "While tokens wait: seconds since a token was last settled (or since the oldest running "
            "revocation started, if later); 0 when none waits.",
            value=stalled,
        ),
    ]
