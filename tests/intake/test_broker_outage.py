"""The broker dies during a burst and comes back: every event was answered 202 and is correlated
exactly once (the outbox relays what the broker never got or lost).

The broker is a real ``redis-server`` this test starts on a free port (never the shared one),
SIGKILLed mid-burst while it holds messages the (paused) worker has not taken, and restarted
empty, so queued messages are really lost; the test fails if none were queued at the kill.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator import clock
from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.incidents import service as incidents
from orchestrator.store.outbox import OutboxRow, relay_once
from orchestrator.timeline import service as timeline
from orchestrator.worker.app import publisher
from orchestrator.worker.runtime import Runtime
from tests.support.brokers import RedisServer
from tests.support.figures import REDIS_STORE, record_figures
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
BURST = 60  # events; a third before the outage, a third during, a third after


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[tuple[Runtime, str, RedisServer, Proc]]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    with ExitStack() as stack:
        stack.callback(server.kill)
        settings = load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "intake_token": INTAKE_TOKEN,
                "api_token": API_TOKEN,
                "broker_url": f"redis://127.0.0.1:{server.port}/0",
                "redeliver_after_seconds": 2,
            }
        )
        runtime = make_runtime(settings)
        stack.callback(runtime.close)
        # A real worker process: its reconnection to a broker that died is what this test trusts.
        env = orchestrator_env(
            tmp_path / "data",
            intake_token=INTAKE_TOKEN,
            api_token=API_TOKEN,
            broker_url=f"redis://127.0.0.1:{server.port}/0",
            redeliver_after_seconds="2",
        )
        worker = Proc(["worker"], env=env, cwd=tmp_path, log=tmp_path / "worker.log")
        stack.callback(worker.stop)
        stack.callback(worker.resume)  # a paused worker would not stop
        yield runtime, stack.enter_context(serve_app(create_app(runtime))), server, worker


def _post(client: httpx.Client, n: int) -> int:
    event = {"title": f"Burst {n}", "kind": "host.anomaly", "severity": "low", "dedup_key": f"burst-{n}"}
    return client.post("/v1/events", json=event, headers=AUTH).status_code


def _all_done(runtime: Runtime) -> bool:
    with runtime.store.unit_of_work() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.topic == EVENT_TOPIC, OutboxRow.done_at.is_(None))
        )
    return pending == 0


def _nothing_owed(runtime: Runtime) -> bool:
    with runtime.store.unit_of_work() as session:
        owed = select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None))
        return not session.scalar(owed)


def _pause_outside_a_write(worker: Proc, database: Path) -> None:
    """SIGSTOP the worker at a moment it holds no SQLite transaction. Even idle it beats every few
    seconds (``heartbeats.py``); paused inside that write it would hold every writer, the intake too."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        worker.pause()
        probe = sqlite3.connect(database, timeout=0.5, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            worker.resume()
            time.sleep(0.05)
        finally:
            probe.close()
    pytest.fail("the worker never left its SQLite transaction long enough to pause it outside one")


def test_a_broker_outage_mid_burst_delays_but_never_loses_or_doubles(
    outage: tuple[Runtime, str, RedisServer, Proc],
) -> None:
    runtime, url, server, worker = outage
    stop = threading.Event()

    def relay_forever() -> None:  # the scheduler's outbox relay, as `orchestrator scheduler` runs it
        publish = publisher(runtime.celery)
        while not stop.is_set():
            with contextlib.suppress(Exception):  # broker down: the next tick tries again
                relay_once(runtime.store, publish, now=clock.utcnow(), redeliver_after=2)
            stop.wait(0.2)

    scheduler = threading.Thread(target=relay_forever)
    scheduler.start()
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            third = BURST // 3
            statuses += [_post(client, n) for n in range(third)]
            wait_for(lambda: _all_done(runtime), timeout=60, what="the first third correlated")
            # and nothing else owed, so the worker is idle, not inside a write it would hold paused
            wait_for(lambda: _nothing_owed(runtime), timeout=60, what="the worker idle")
            _pause_outside_a_write(worker, runtime.settings.data_dir / "orchestrator.sqlite")
            # the second third's messages wait in Redis, untaken
            statuses += [_post(client, n) for n in range(third, third + third // 2)]
            queued_at_kill = wait_for(server.messages, timeout=30, what="messages queued in Redis")
            server.kill()
            worker.resume()
            statuses += [_post(client, n) for n in range(third + third // 2, 2 * third)]
            server.start()  # back, empty: whatever it held is gone
            statuses += [_post(client, n) for n in range(2 * third, BURST)]
        assert statuses == [202] * BURST
        wait_for(lambda: _all_done(runtime), timeout=90, what="every event correlated after the outage")
    finally:
        worker.resume()  # a worker paused inside a write holds the store: the relay would wait on it
        stop.set()
        scheduler.join()
    record_figures(
        "Redis SIGKILLed mid-burst", REDIS_STORE, events=BURST, messages_queued_at_kill=queued_at_kill
    )

    with runtime.store.unit_of_work() as session:
        rows = incidents.list_incidents(session, limit=1000)
        assert sorted(row.dedup_key for row in rows) == sorted(f"burst-{n}" for n in range(BURST))
        assert {row.event_count for row in rows} == {1}
        for row in rows:
            kinds = [entry.kind for entry in timeline.entries(session, row.id)]
            assert kinds.count("incident.opened") == 1 and kinds.count("event.received") == 1
