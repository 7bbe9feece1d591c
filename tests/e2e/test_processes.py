"""The real processes: ``orchestrator up``, and serve/worker/scheduler stopped, started and killed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from orchestrator.config import load_settings
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.store.db import Store
from orchestrator.store.outbox import OutboxRow
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for, wait_healthy
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN

pytestmark = pytest.mark.slow

SENDER = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
OPERATOR = {"Authorization": f"Bearer {API_TOKEN}"}


class Machine:
    """A data dir, an environment and the processes started on it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = orchestrator_env(
            tmp / "data",
            intake_token=INTAKE_TOKEN,
            api_token=API_TOKEN,
            redeliver_after_seconds="2",
            relay_interval_seconds="0.2",
            worker_concurrency="2",
        )
        self.procs: list[Proc] = []

    def start(self, *args: str) -> Proc:
        if args[0] in ("up", "serve"):
            args = (*args, "--port", str(self.port))
        proc = Proc(list(args), env=self.env, cwd=self.tmp, log=self.tmp / f"{args[0]}.log")
        self.procs.append(proc)
        return proc

    def store(self) -> Store:
        return Store(load_settings(overrides={"data_dir": self.tmp / "data"}).store_url)

    def post(self, n: int, prefix: str, severity: str = "high") -> None:
        """``n`` events; a high one starts the shipped tiktok-compromise playbook, a low one none."""
        for i in range(n):
            event = {
                "title": f"{prefix} {i}",
                "kind": "host.compromise",
                "severity": severity,
                "dedup_key": f"{prefix}-{i}",
            }
            assert (
                httpx.post(f"{self.base_url}/v1/events", json=event, headers=SENDER, timeout=10).status_code
                == 202
            )

    def logs(self) -> str:
        return "".join(p.log.read_text(errors="replace") for p in self.procs if p.log.exists())


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    m = Machine(tmp_path)
    yield m
    for proc in m.procs:
        proc.stop()


def _counts(store: Store) -> tuple[int, int, int]:
    with store.unit_of_work() as session:
        correlated = session.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.incident_id.is_not(None))
        )
        counted = session.scalar(select(func.coalesce(func.sum(IncidentRow.event_count), 0)))
        owed = session.scalar(  # events only: a high event's engage also owes a `switch.changed` row
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.done_at.is_(None), OutboxRow.topic == EVENT_TOPIC)
        )
    return int(correlated or 0), int(counted or 0), int(owed or 0)


def test_up_turns_a_posted_event_into_an_incident_with_timeline(machine: Machine) -> None:
    machine.start("up")
    wait_healthy(machine.base_url)
    posted = time.monotonic()
    machine.post(1, "e2e")

    def timeline() -> list[str] | None:
        listing = httpx.get(f"{machine.base_url}/v1/incidents", headers=OPERATOR).json()["incidents"]
        if not listing:
            return None
        url = f"{machine.base_url}/v1/incidents/{listing[0]['id']}/timeline"
        return [e["kind"] for e in httpx.get(url, headers=OPERATOR).json()["entries"]] or None

    kinds = wait_for(timeline, timeout=20, what="incident and timeline from `orchestrator up`")
    print(f"event accepted -> incident with timeline: {time.monotonic() - posted:.3f}s")
    assert kinds[:2] == ["event.received", "incident.opened"]
    # the shipped tiktok-compromise playbook answers a high event: the switch engages
    # even though no TikTok credentials or inventory are configured here
    engaged = wait_for(lambda: "switch.engaged" in (timeline() or []), timeout=20, what="the kill switch")
    assert engaged
    assert INTAKE_TOKEN not in machine.logs() and API_TOKEN not in machine.logs()


def test_events_accepted_with_no_worker_are_processed_when_one_starts(machine: Machine) -> None:
    machine.start("serve")
    wait_healthy(machine.base_url)
    machine.post(20, "queued")
    time.sleep(1)
    assert _counts(machine.store()) == (0, 0, 20)
    machine.start("worker")
    machine.start("scheduler")
    wait_for(
        lambda: _counts(machine.store()) == (20, 20, 0), timeout=60, what="20 queued events correlated once"
    )


def test_worker_killed_holding_work_loses_nothing_and_doubles_nothing(machine: Machine) -> None:
    """The only worker SIGKILLed while a burst is being accepted, with events it owes: every event
    accepted before the kill and not yet correlated at it, and every one after, is correlated
    exactly once by its replacement. The test fails if the kill found nothing owed."""
    burst = 240
    machine.start("serve")
    machine.start("scheduler")
    wait_healthy(machine.base_url)
    accepted, lock = [0], threading.Lock()

    def send(i: int) -> None:
        machine.post(1, f"burst{i}", severity="low")  # correlation alone: the work the kill cuts
        with lock:
            accepted[0] += 1

    with ThreadPoolExecutor(4) as senders:
        sent = senders.map(send, range(burst))
        # The worker starts behind the burst, so it always has work owed however fast it correlates.
        wait_for(lambda: accepted[0] >= 60, timeout=30, what="60 events accepted before the worker starts")
        victim = machine.start("worker", "--concurrency", "1")
        wait_for(
            lambda: 0 < _counts(machine.store())[0] <= accepted[0] - 10,
            timeout=60,
            what="the worker correlating, with at least 10 accepted events still owed",
        )
        with lock:
            accepted_before_kill = accepted[0]
        victim.kill()
        correlated_at_kill = _counts(machine.store())[0]  # no worker is left to add to it
        list(sent)
    assert correlated_at_kill < accepted_before_kill  # the fault interrupted work still owed
    machine.start("worker")
    last: list[tuple[int, int, int]] = []

    def settled() -> bool:
        last[:] = [_counts(machine.store())]
        return last[0] == (burst, burst, 0)

    try:
        wait_for(settled, timeout=90, what=f"all {burst} events correlated exactly once")
    except AssertionError:
        raise AssertionError(f"(correlated, counted, owed) = {last}") from None
    print(
        f"FIGURE: worker SIGKILLed mid-burst: accepted_before_kill={accepted_before_kill} "
        f"correlated_at_kill={correlated_at_kill}; after restart {burst} of {burst}, each counted once"
    )


def test_credentials_file_is_private_when_no_tokens_configured(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.env.pop("ORCH_INTAKE_TOKEN")
    m.env.pop("ORCH_API_TOKEN")
    proc = m.start("serve")
    try:
        wait_healthy(m.base_url)
        creds = tmp_path / "data" / "credentials.json"
        assert creds.stat().st_mode & 0o777 == 0o600
        token = json.loads(creds.read_text())["api_token"]
        assert (
            httpx.get(f"{m.base_url}/v1/incidents", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        assert httpx.get(f"{m.base_url}/v1/incidents").status_code == 401
    finally:
        proc.stop()


def _accepted(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "orchestrator_events_total" and sample.labels.get("outcome") == "accepted"
    )


def test_api_processes_share_the_port_and_count_as_one(machine: Machine) -> None:
    """ORCH_API_PROCESSES=2: both processes answer, /metrics sums both whichever answers the scrape,
    and a process killed mid-run is replaced without losing its counts or any event."""
    counters = machine.tmp / "metrics"
    machine.env |= {"ORCH_API_PROCESSES": "2", "PROMETHEUS_MULTIPROC_DIR": str(counters)}
    machine.start("serve")
    wait_healthy(machine.base_url)
    posted = 0

    def post_until_processes_counted(count: int) -> list[Path]:
        nonlocal posted
        for _ in range(200):  # a new connection each time: the kernel spreads them
            if len(files := sorted(counters.glob("counter_*.db"))) >= count:
                return files
            machine.post(1, f"mp{posted}")
            posted += 1
        raise AssertionError(f"{posted} connections never reached {count} processes")

    files = post_until_processes_counted(2)
    assert {_accepted(machine.base_url) for _ in range(6)} == {posted}
    os.kill(int(files[0].stem.removeprefix("counter_")), signal.SIGKILL)
    machine.post(10, "after-kill")  # the other process answers meanwhile
    posted += 10
    wait_for(
        lambda: machine.logs().count("Application startup complete") == 3, timeout=30, what="a replacement"
    )
    post_until_processes_counted(3)
    assert _accepted(machine.base_url) == posted  # the killed process's counts stay
    assert _counts(machine.store())[2] == posted  # every accepted event is in the store, owed to a worker
    assert "Traceback" not in machine.logs()
