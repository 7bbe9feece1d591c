"""A storm of alerts about one compromise: every delivery 202 (never 429), one incident, a bounded
timeline, and the intake keeps answering other senders meanwhile.

The benchmark (benchmarks/intake.py) runs the full 10,000 alerts in one minute; the test sends
``STORM`` alerts so the suite stays fast, through the same paths: grouped and single deliveries.
"""

from __future__ import annotations

import copy
import json
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator.api.app import create_app
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.incidents import flows
from orchestrator.incidents import service as incidents
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for
from tests.support.runtime import INTAKE_TOKEN
from tests.support.server import serve_app
from tests.support.worker import in_process_worker

SAMPLE = json.loads((Path(__file__).parent / "sources/samples/alertmanager_grouped.json").read_bytes())
AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}
STORM = 800
GROUP = 50  # alerts per grouped delivery
SINGLES = 200  # the rest arrives one alert per delivery


def _group(size: int, n: int) -> bytes:
    body = copy.deepcopy(SAMPLE)
    template = body["alerts"][0]
    body["alerts"] = [
        {**template, "fingerprint": "storm-0001", "labels": {**template["labels"], "replica": f"{n}-{i}"}}
        for i in range(size)
    ]
    return json.dumps(body).encode()


@pytest.fixture
def live(runtime: Runtime) -> Iterator[str]:
    with (
        in_process_worker(runtime, concurrency=4),
        serve_app(create_app(runtime)) as url,
    ):
        yield url


def _outbox_done(runtime: Runtime) -> bool:
    with runtime.store.unit_of_work() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.topic == EVENT_TOPIC, OutboxRow.done_at.is_(None))
        )
    return pending == 0


def test_a_storm_about_one_compromise_opens_one_incident_and_is_never_refused(
    live: str, runtime: Runtime
) -> None:
    bodies = [_group(GROUP, n) for n in range((STORM - SINGLES) // GROUP)]
    bodies += [_group(1, 10_000 + n) for n in range(SINGLES)]
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:  # another sender during the storm: is the intake still answering?
        with httpx.Client(base_url=live, timeout=30) as client:
            n = 0
            while not stop.is_set():
                event = {"title": "Other alert", "kind": "other", "severity": "low", "dedup_key": f"p{n}"}
                started = time.perf_counter()
                assert client.post("/v1/events", json=event, headers=AUTH).status_code == 202
                latencies.append(time.perf_counter() - started)
                n += 1
                time.sleep(0.05)

    def send(body: bytes) -> tuple[int, int]:
        with httpx.Client(base_url=live, timeout=30) as client:
            answer = client.post("/v1/events/alertmanager", content=body, headers=AUTH)
            return answer.status_code, answer.json().get("accepted", 0)

    prober = threading.Thread(target=probe)
    prober.start()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, bodies))
    stop.set()
    prober.join()

    assert {status for status, _ in answers} == {202}
    assert sum(accepted for _, accepted in answers) == STORM
    # PagerDuty and EventBridge give up after 5 s: another sender is still answered in time.
    assert latencies and statistics.median(latencies) < 5.0

    wait_for(lambda: _outbox_done(runtime), timeout=90, what="every storm event correlated")
    with runtime.store.unit_of_work() as session:
        storm = [row for row in incidents.list_incidents(session, limit=1000) if row.kind != "other"]
        assert [(row.dedup_key, row.event_count) for row in storm] == [("alertmanager:storm-0001", STORM)]
        kinds = [entry.kind for entry in timeline.entries(session, storm[0].id)]
    # One opening entry and the first few events in full; the rest are only counted.
    assert kinds.count("incident.opened") == 1
    assert kinds.count("event.received") == flows.EVENTS_RECORDED_IN_FULL
