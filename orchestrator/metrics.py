"""Prometheus metrics at ``/metrics``: in-process counters plus figures read from the store at scrape.

Counters that only the API sees (events by source and outcome) live in this module's own
``CollectorRegistry``. When several API processes serve one port (``serve --processes N``), each
writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess
mode) and a scrape, whichever process answers it, sums them all.

Everything that workers change (incidents, lifecycle times, revocations, the outbox) is
computed from the store at scrape time, because each Celery worker is its own process and its
in-memory counters would never be scraped; the store is the one place every process writes.
Nothing here carries a secret: labels are bounded names, values are counts and durations.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from orchestrator import clock
from orchestrator.health_metrics import health_families
from orchestrator.inbound import access
from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import IncidentRow
from orchestrator.logging import get_logger
from orchestrator.routing import QUEUES
from orchestrator.store import outbox
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.worker.runtime import Runtime

__all__ = [
    "DURATION_BUCKETS",
    "REGISTRY",
    "REVOCATION_OUTCOMES",
    "observe_event",
    "router",
    "scrape",
    "shared_counters",
]

_log = get_logger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)
"""The orchestrator's own registry (never prometheus_client's global one)."""

DURATION_BUCKETS = (60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)
"""Seconds: 1, 5, 10, 15, 30 minutes, 1, 2, 4, 12 and 24 hours, around the configured targets."""

REVOCATION_OUTCOMES = ("revoked", "already_dead", "failed")

_EVENTS = Counter(
    "orchestrator_events",
    "Compromise events seen by the intake, by source and outcome.",
    ["source", "outcome"],
    registry=REGISTRY,
)
_SHARED_DIR = "PROMETHEUS_MULTIPROC_DIR"
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,47}$")
_MAX_SERIES = 500
_series: set[tuple[str, str]] = set()
_series_lock = threading.Lock()


@contextmanager
def shared_counters() -> Iterator[Path]:
    """Make the API processes started inside the block count into one set of files.

    Uses the operator's ``PROMETHEUS_MULTIPROC_DIR`` if set (emptied first: counts of an earlier
    run must not add up), else a temporary folder removed afterwards. Only processes started
    afterwards see it: prometheus_client chooses file-backed values when it is imported.
    """
    given = os.environ.get(_SHARED_DIR)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="orchestrator-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[_SHARED_DIR] = str(folder)
    try:
        yield folder
    finally:
        if not given:
            del os.environ[_SHARED_DIR]
            shutil.rmtree(folder, ignore_errors=True)


def _counters() -> Iterator[Metric]:
    folder = os.environ.get(_SHARED_DIR)
    if folder:
        collector: Any = MultiProcessCollector(None, folder)  # type: ignore[no-untyped-call]
        yield from collector.collect()  # every API process's counts
    else:
        yield from REGISTRY.collect()


def _bounded(value: str) -> str:
    value = value.lower()
    return value if _LABEL.match(value) else "other"


def observe_event(source: str, outcome: str, count: int = 1) -> None:
    """Count ``count`` events at intake (``outcome`` e.g. accepted, rejected, unauthorized, too_large).

    Label values outside ``[a-z0-9_.-]`` or beyond 500 distinct pairs become ``other``,
    so a caller cannot grow the series without bound.
    """
    key = (_bounded(source), _bounded(outcome))
    with _series_lock:
        if key not in _series:
            if len(_series) >= _MAX_SERIES:
                key = ("other", "other")
            _series.add(key)
    _EVENTS.labels(*key).inc(count)


def _histogram(name: str, doc: str, samples: list[tuple[str, float]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["drill"])
    for drill in ("false", "true"):
        values = [seconds for label, seconds in samples if label == drill]
        buckets = [(str(bound), float(sum(1 for v in values if v <= bound))) for bound in DURATION_BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        family.add_metric([drill], buckets, sum_value=float(sum(values)))
    return family


def _durations(rows: list[tuple[datetime, datetime | None, bool]]) -> list[tuple[str, float]]:
    return [
        ("true" if drill else "false", max(0.0, (later - aware).total_seconds()))
        for aware, later, drill in rows
        if later is not None
    ]


def _store_families(runtime: Runtime) -> list[Metric]:
    with runtime.store.unit_of_work() as session:
        open_rows = session.execute(
            select(IncidentRow.severity, IncidentRow.is_drill, func.count())
            .where(IncidentRow.status.in_(incidents.OPEN_STATUSES))
            .group_by(IncidentRow.severity, IncidentRow.is_drill)
        ).all()
        times = session.execute(
            select(
                IncidentRow.aware_at,
                IncidentRow.disconnected_at,
                IncidentRow.reported_at,
                IncidentRow.is_drill,
            )
        ).all()
        finished = session.scalars(
            select(TimelineEntryRow.data).where(TimelineEntryRow.kind == kinds.REVOCATION_FINISHED)
        ).all()
        depth = outbox.pending_count(session)
        oldest = session.scalar(  # the oldest owed row by id: a range of ix_outbox_pending
            select(OutboxRow.created_at).where(OutboxRow.done_at.is_(None)).order_by(OutboxRow.id).limit(1)
        )
        failed_reports = session.scalar(
            select(func.count())
            .select_from(TimelineEntryRow)
            .where(TimelineEntryRow.kind == kinds.REPORT_FAILED)
        )
        dead = outbox.dead_count(session)
    gauge = GaugeMetricFamily(
        "orchestrator_incidents_open",
        "Incidents not yet resolved, by severity.",
        labels=["severity", "drill"],
    )
    for severity, drill, count in open_rows:
        gauge.add_metric([severity, "true" if drill else "false"], float(count))
    revocations = CounterMetricFamily(
        "orchestrator_revocations",
        "Tokens handled by finished revocations, by outcome.",
        labels=["outcome"],
    )
    for outcome in REVOCATION_OUTCOMES:
        total = sum(_count((data or {}).get(outcome)) for data in finished)
        revocations.add_metric([outcome], float(total))
    return [
        gauge,
        _histogram(
            "orchestrator_awareness_to_disconnect_seconds",
            "From awareness of a compromise to the kill switch engaged (clause III.2(f)).",
            _durations([(a, d, drill) for a, d, _r, drill in times]),
        ),
        _histogram(
            "orchestrator_awareness_to_report_seconds",
            "From awareness of a compromise to the report delivered to TikTok (clause III.2(f)).",
            _durations([(a, r, drill) for a, _d, r, drill in times]),
        ),
        revocations,
        GaugeMetricFamily("orchestrator_outbox_depth", "Outbox rows not yet done.", value=float(depth)),
        GaugeMetricFamily(
            "orchestrator_outbox_oldest_seconds",
            "Age of the oldest outbox row not yet done (0 when none): grows through a stall.",
            value=max(0.0, (clock.utcnow() - oldest).total_seconds()) if oldest else 0.0,
        ),
        CounterMetricFamily(
            "orchestrator_report_failures",
            "Attempts to deliver a report to TikTok that failed (each also logged at error).",
            value=float(failed_reports or 0),
        ),
        GaugeMetricFamily(
            "orchestrator_outbox_dead",
            "Outbox rows dead-lettered after too many sends, waiting for 'orchestrator outbox retry'.",
            value=float(dead),
        ),
    ]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _queue_depths(runtime: Runtime) -> list[Metric]:
    """Messages waiting per queue, each queue asked on its own; the embedded broker's are files."""
    depth = GaugeMetricFamily(
        "orchestrator_queue_depth", "Messages waiting in each broker queue.", labels=["queue"]
    )
    known = GaugeMetricFamily(
        "orchestrator_queue_depth_known",
        "1 when the broker answered how many messages wait in the queue, else 0.",
        labels=["queue"],
    )
    for queue, size in _sizes(runtime).items():
        known.add_metric([queue], 0.0 if size is None else 1.0)
        if size is not None:
            depth.add_metric([queue], size)
    return [depth, known]


def _sizes(runtime: Runtime) -> dict[str, float | None]:
    """Each queue's depth, or None when its question failed (the others are still answered)."""
    sizes: dict[str, float | None] = dict.fromkeys(QUEUES)
    if runtime.settings.embedded_broker:
        folder = Path(runtime.celery.conf.broker_transport_options["data_folder_in"])
        names = [name.partition(".")[2] for name in _listdir(folder)]
        return {queue: float(names.count(f"{queue}.msg")) for queue in QUEUES}
    try:
        with runtime.celery.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            for queue in QUEUES:
                sizes[queue] = _size(conn, queue)
    except Exception as exc:
        _log.warning("metrics: the broker did not answer", error=type(exc).__name__)
    return sizes


def _size(conn: Any, queue: str) -> float | None:
    # A channel per queue: on AMQP a failed question closes its channel. A queue no one declared
    # yet is empty: Redis keeps no key for an empty list, and kombu calls that NOT_FOUND.
    try:
        with conn.channel() as channel:
            return float(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception as exc:
        if "NOT_FOUND" in str(exc) or getattr(exc, "reply_code", None) == 404:
            return 0.0
        _log.warning("metrics: queue depth unknown", queue=queue, error=type(exc).__name__)
        return None


def _listdir(folder: Path) -> list[str]:
    return [entry.name for entry in folder.iterdir()] if folder.is_dir() else []


class _Scrape(Collector):
    """One scrape: the API's counters, then the store's and the broker's figures."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from _counters()
        yield from self._families


def _from_store(runtime: Runtime) -> list[Metric]:
    """The store's figures and ``orchestrator_store_up`` 1; only that gauge, at 0, when the store
    cannot answer: a scrape never fails, so an outage is a value to alert on, not a 500."""
    up = GaugeMetricFamily("orchestrator_store_up", "1 when the store answered this scrape, else 0.")
    try:
        families = _store_families(runtime) + health_families(runtime.store, clock.utcnow())
    except Exception as exc:
        _log.error("metrics: the store did not answer", error=type(exc).__name__)
        up.add_metric([], 0.0)
        return [up]
    up.add_metric([], 1.0)
    return [up, *families]


def scrape(runtime: Runtime) -> bytes:
    """The Prometheus text exposition of every metric (blocking: reads the store and broker)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(_from_store(runtime) + _queue_depths(runtime)))
    return generate_latest(registry)


router = APIRouter()


@router.get(
    "/metrics", summary="Prometheus metrics (text exposition format)", response_class=PlainTextResponse
)
async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    access.require(request, runtime.settings, "metrics_token", "api_token", what="metrics or operator token")
    body = await run_in_threadpool(scrape, runtime)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
