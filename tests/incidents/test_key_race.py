"""Workers racing on new dedup keys (PostgreSQL): a message is done however many races its owed
rows lose. A worker takes the owed rows after its message along; a lost race on one of their new
keys must not also fail the retries, or the message's rows would wait for the relay's redelivery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.config import load_settings
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.incidents import flows as incident_flows
from orchestrator.incidents.models import CorrelationKey, IncidentRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import make_runtime
from tests.support.services import postgres_database

pytestmark = pytest.mark.services


@pytest.fixture
def pg_runtime(tmp_path: Path) -> Iterator[Runtime]:
    with postgres_database() as url:
        runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path, "database_url": url}))
        yield runtime
        runtime.close()


def _event(key: str, now: datetime) -> CompromiseEvent:
    return CompromiseEvent(
        source="generic", kind="host.anomaly", severity="low", title=f"alert {key}",
        observed_at=now, received_at=now, dedup_key=key,
    )  # fmt: skip


def _hold_key(runtime: Runtime, key: str, now: datetime) -> Session:
    """Another worker's transaction that has inserted ``key`` (and its incident), not yet committed."""
    session = Session(runtime.store.engine)
    session.add(
        IncidentRow(
            id=f"inc-{key}", dedup_key=key, title=key, kind="host.anomaly", severity="low",
            status="detected", source="generic", entities={}, event_count=0, resolved_signals=0,
            is_drill=False, aware_at=now, last_event_at=now,
        )
    )  # fmt: skip
    session.flush()
    session.add(CorrelationKey(dedup_key=key, incident_id=f"inc-{key}", last_seen_at=now))
    session.flush()
    return session


def _blocked(runtime: Runtime) -> bool:
    with runtime.store.engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def test_a_message_is_done_though_its_owed_rows_lose_three_key_races(pg_runtime: Runtime) -> None:
    runtime = pg_runtime
    now = clock.utcnow()
    message = intake.accept_events(runtime.store, [_event("mine", now)], now=now)
    intake.accept_events(runtime.store, [_event(f"raced-{n}", now) for n in range(3)], now=now)
    holders = [_hold_key(runtime, f"raced-{n}", now) for n in range(3)]
    failures: list[BaseException] = []

    def work() -> None:
        try:
            incident_flows.process_received_events(
                runtime.transaction, outbox_ids=message, window_seconds=3600, playbooks={}
            )
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    waiting = list(holders)
    deadline = time.monotonic() + 60
    while worker.is_alive() and time.monotonic() < deadline:
        if waiting and _blocked(runtime):  # the worker waits on a key a holder inserted: it loses
            waiting.pop(0).commit()
        time.sleep(0.02)
    worker.join(5)
    for holder in holders:
        holder.commit()
        holder.close()
    assert not worker.is_alive() and failures == []
    with runtime.store.unit_of_work() as session:
        assert session.scalar(select(OutboxRow.done_at).where(OutboxRow.id == message[0])) is not None
        assert session.scalar(select(IncidentRow.event_count).where(IncidentRow.dedup_key == "mine")) == 1
        assert session.scalar(select(func.count()).select_from(CorrelationKey)) == 4
    assert len(waiting) == 2  # one race lost (the first try took the owed rows along), then done
