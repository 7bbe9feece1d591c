"""Dead letters: a row no worker ever finishes stops being sent after the cap, says why, lands on
its incident's timeline, shows in /metrics and the CLI, and is sent again by hand."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from orchestrator import clock, dead_letters, heartbeats
from orchestrator.api.app import create_app
from orchestrator.heartbeats import Beat
from orchestrator.incidents import news
from orchestrator.playbooks import flows
from orchestrator.playbooks.loader import parse_playbook
from orchestrator.playbooks.models import StepRunRow
from orchestrator.routing import ROUTES
from orchestrator.store import marks, outbox
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN
from orchestrator.worker.runtime import Runtime
from tests.support.processes import orchestrator_env
from tests.support.rows import event_row
from tests.support.runtime import API_TOKEN
from tests.support.server import serve_app
from tests.timeline.story import T0, build_incident

CAP = 3


def _relay(runtime: Runtime, seconds: float, sent: list[int]) -> int:
    return outbox.relay_once(
        runtime.store,
        lambda _topic, *ids: sent.extend(ids),
        now=T0 + timedelta(seconds=seconds),
        redeliver_after=30,
        max_attempts=CAP,
        on_dead=dead_letters.note_dead,
    )


def _relay_for(
    runtime: Runtime, seconds: float, sent: list[int], *, each: Callable[[], None] | None = None
) -> None:
    """The scheduler's relay every 5 s for ``seconds``; ``each`` runs after every send."""
    at = 2.0
    while at < seconds:
        if _relay(runtime, at, sent) and each is not None:
            each()
        at += 5


@pytest.fixture
def owed(runtime: Runtime) -> tuple[str, int]:
    """An incident (the story's), one of its events, and an outbox row for it no worker finishes
    whose worker said why: a token refused by the store (the message is the redacted one)."""
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        session.add(event_row("evt-never-done", at=T0, incident_id=incident_id))
        session.flush()
        return incident_id, outbox.enqueue(
            session, topic="event.received", ref_id="evt-never-done", now=T0
        ).id


def _told(runtime: Runtime, chain: str, row_id: int) -> list[tuple[str, str, dict[str, object]]]:
    """What the timeline says of outbox row ``row_id``: (kind, actor, data)."""
    with runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, chain)
        assert timeline.verify_entries(entries) is None
    return [(e.kind, e.actor, e.data) for e in entries if (e.data or {}).get("outbox_id") == row_id]


ERROR = "StoreError: the store refused a write"


def test_a_row_only_waiting_is_sent_again_for_ever_a_failing_one_is_dead_lettered_after_the_cap(
    runtime: Runtime, owed: tuple[str, int]
) -> None:
    """Sends alone are no failure: a batch may queue for hours behind the rate limit. Once its
    worker has reported an error, the cap applies; the dead letter lands on the incident."""
    incident_id, row_id = owed
    sent: list[int] = []
    _relay_for(runtime, 2000, sent)
    assert len(sent) > CAP  # no error recorded: still relayed, never dead
    outbox.record_failure(runtime.store, [row_id], ERROR)
    assert _relay(runtime, 2500, sent) == 0  # due again, failing and past the cap: dead instead
    with runtime.store.unit_of_work() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None and row.dead_at is not None and row.done_at is None
        assert (row.last_error, outbox.pending_count(session), outbox.dead_count(session)) == (ERROR, 0, 1)
    attempts = len(sent)
    assert _relay(runtime, 9000, sent) == 0 and len(sent) == attempts
    assert _told(runtime, incident_id, row_id) == [
        (
            kinds.OUTBOX_DEAD,
            "system",
            {
                "outbox_id": row_id,
                "topic": "event.received",
                "ref_id": "evt-never-done",
                "attempts": attempts,
                "last_error": ERROR,
            },
        )
    ]


def test_a_task_that_keeps_raising_writes_its_error_and_dies_with_it(runtime: Runtime) -> None:
    """A poison row (its ref names no step): the real task raises on every delivery, each failure
    is written to ``last_error``, and the dead letter carries it (on the system chain: no run)."""
    with runtime.store.unit_of_work() as session:
        row_id = outbox.enqueue(session, topic="step.execute", ref_id="no-such-step", now=T0).id
    task = runtime.celery.tasks[ROUTES["step.execute"].task]
    failures: list[str] = []

    def deliver() -> None:
        with pytest.raises(ValueError) as raised:
            task(row_id)
        failures.append(str(raised.value))

    sent: list[int] = []
    _relay_for(runtime, 2000, sent, each=deliver)
    assert len(failures) == CAP and sent == [row_id] * CAP
    error = "ValueError: invalid literal for int() with base 10: 'no-such-step'"
    with runtime.store.unit_of_work() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None and row.last_error == error and row.dead_at is not None
    assert [data for _, _, data in _told(runtime, SYSTEM_CHAIN, row_id)] == [
        {
            "outbox_id": row_id,
            "topic": "step.execute",
            "ref_id": "no-such-step",
            "attempts": 3,
            "last_error": error,
        }
    ]


def _owed_on(runtime: Runtime) -> tuple[str, int]:
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        session.add(event_row("evt-killer", at=T0, incident_id=incident_id))
        session.flush()
        return incident_id, outbox.enqueue(session, topic="event.received", ref_id="evt-killer", now=T0).id


def _row(runtime: Runtime, row_id: int) -> OutboxRow:
    with runtime.store.unit_of_work() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_row_whose_worker_dies_every_time_is_dead_lettered(either_store: Runtime) -> None:
    """A worker SIGKILLed on a row (out of memory) writes no error; the next worker to start the
    row finds the dead one's mark and writes the death, so the cap applies as for a raise."""
    runtime = either_store
    incident_id, row_id = _owed_on(runtime)
    workers = iter(f"worker-host:{pid}" for pid in range(100, 200))  # none of them beats: all dead
    sent: list[int] = []
    killed: list[str] = []

    def start_and_die() -> None:
        killed.append(next(workers))
        marks.begin(runtime.store, [row_id], killed[-1], heartbeats.live_processes)  # no end: killed

    _relay_for(runtime, 2000, sent, each=start_and_die)
    assert sent == [row_id] * CAP and len(killed) == CAP
    row = _row(runtime, row_id)
    assert row.dead_at is not None and row.done_at is None
    assert row.last_error == f"worker {killed[-2]} died while running this row"
    (told,) = _told(runtime, incident_id, row_id)
    assert told[:2] == (kinds.OUTBOX_DEAD, "system") and told[2]["last_error"] == row.last_error


def test_a_redelivery_while_the_holder_lives_counts_nothing(either_store: Runtime) -> None:
    """A row redelivered while the worker running it still beats (a slow step, a long revocation
    batch) is not failing: the second start takes nothing from the holder and writes no error,
    and the relay goes on sending it; the holder's end clears its mark."""
    runtime = either_store
    _, row_id = _owed_on(runtime)
    holder = Beat("worker", ("default",), host="worker-host", pid=7)
    heartbeats.beat(runtime.store, holder)
    marks.begin(runtime.store, [row_id], holder.process, heartbeats.live_processes)
    sent: list[int] = []

    def start_again() -> None:
        marks.begin(runtime.store, [row_id], "worker-host:8", heartbeats.live_processes)
        marks.end(runtime.store, [row_id], "worker-host:8")
        heartbeats.beat(runtime.store, holder)  # it is still running the row

    _relay_for(runtime, 2000, sent, each=start_again)
    assert len(sent) > CAP  # past the cap and still sent: nothing failed
    row = _row(runtime, row_id)
    assert (row.last_error, row.dead_at, row.started_by) == (None, None, holder.process)
    marks.end(runtime.store, [row_id], holder.process)
    assert _row(runtime, row_id).started_by is None


def _identity_of_a_process_with_pid_one() -> str:
    """``this_process()`` of a new interpreter on this host whose pid is 1, as a container's is
    after every restart."""
    code = "\n".join(
        [
            "import os",
            "os.getpid = lambda: 1",
            "from orchestrator import heartbeats",
            "print(heartbeats.this_process())",
        ]
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return found.stdout.strip()


def test_a_worker_restarted_with_its_predecessors_host_and_pid_takes_the_mark_as_a_death(
    runtime: Runtime,
) -> None:
    """A container restarted after the kill has the same host name and pid 1: the new worker must
    not take the mark its killed predecessor left for its own, or the row that kills every
    worker taking it would be retried for ever, never dead-lettered."""
    _, row_id = _owed_on(runtime)
    killed, restarted = _identity_of_a_process_with_pid_one(), _identity_of_a_process_with_pid_one()
    assert killed != restarted and killed.rsplit(":", 1)[0] == restarted.rsplit(":", 1)[0]
    marks.begin(runtime.store, [row_id], killed, heartbeats.live_processes)  # then SIGKILLed
    marks.begin(runtime.store, [row_id], restarted, heartbeats.live_processes)
    row = _row(runtime, row_id)
    assert (row.last_error, row.started_by) == (f"worker {killed} died while running this row", restarted)


def test_one_process_beats_and_marks_under_one_identity() -> None:
    """The heartbeat thread's ``Beat`` and each task's ``this_process()`` name the same process:
    otherwise a live worker's marks would look like a dead one's."""
    assert Beat("worker", ("default",)).process == heartbeats.this_process()


ONE_STEP = """
name: one-step
trigger: {manual: {}}
steps:
  - {id: nap, action: wait, with: {seconds: 1}}
"""


def test_a_step_that_kills_every_worker_taking_it_is_dead_lettered(runtime: Runtime) -> None:
    """A step whose worker is SIGKILLed every time (it takes the step's lease, then dies): the
    deliveries that find the dead worker's lease still held count nothing, but each death counts,
    so the cap is reached; before, each of those deliveries reset the row's sends to one."""
    flows.start_manual_run(
        runtime.transaction, playbook=parse_playbook(ONE_STEP, registry=runtime.registry),
        given_inputs={}, incident_id=None, dry_run=False, actor="cli:tester",
    )  # fmt: skip
    with runtime.store.unit_of_work() as session:
        (advance,) = session.scalars(select(OutboxRow.id).where(OutboxRow.topic == flows.ADVANCE))
    flows.process_advance(runtime.transaction, outbox_id=advance)
    with runtime.store.unit_of_work() as session:
        (row_id,) = session.scalars(select(OutboxRow.id).where(OutboxRow.topic.startswith("step.execute")))
    task = runtime.celery.tasks[ROUTES["step.execute"].task]
    deaths: list[str] = []
    held: list[int] = []

    def deliver() -> None:
        """Every other delivery finds the last dead worker's lease held (the real task); the
        others go to a worker that takes the lease and is killed (what it leaves is written)."""
        if len(deaths) == len(held):
            deaths.append(f"test-host:{1000 + len(deaths)}")
            marks.begin(runtime.store, [row_id], deaths[-1], heartbeats.live_processes)
            lease = clock.utcnow() + timedelta(seconds=90)
            with runtime.store.unit_of_work() as session:
                session.execute(update(StepRunRow).values(lease_until=lease))
        else:
            task(row_id)
            held.append(row_id)

    base = clock.utcnow()
    for round_ in range(1, 8 * CAP):
        relayed = outbox.relay_once(
            runtime.store,
            lambda _topic, *ids: None,
            now=base + timedelta(seconds=1000 * round_),
            redeliver_after=30,
            max_attempts=CAP,
            on_dead=dead_letters.note_dead,
        )
        if not relayed:
            break
        deliver()
    row = _row(runtime, row_id)
    assert row.dead_at is not None, f"still sent after {len(deaths)} deaths"
    assert len(deaths) <= CAP and held  # each death counted, the deliveries that found it held not
    assert row.last_error is not None and row.last_error.startswith("worker test-host:")


def test_news_slack_never_took_is_told_on_its_incident(runtime: Runtime) -> None:
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        payload = {"what": "run.finished", "run_id": "run-gone"}
        row_id = outbox.enqueue(session, topic=news.NEWS, ref_id=incident_id, now=T0, payload=payload).id
    outbox.record_failure(runtime.store, [row_id], "SlackUnavailable: Slack chat.postMessage: HTTP 503")
    _relay_for(runtime, 2000, [])
    assert [kind for kind, _, _ in _told(runtime, incident_id, row_id)] == [kinds.OUTBOX_DEAD]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "outbox", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=orchestrator_env(tmp_path / "data"),
        timeout=60,
    )


def _dead_gauge(runtime: Runtime) -> float:
    with serve_app(create_app(runtime)) as base_url:
        text = httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}).text
    (value,) = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "orchestrator_outbox_dead"
    ]
    return value


def test_the_operator_sees_a_dead_row_and_sends_it_again(
    runtime: Runtime, owed: tuple[str, int], tmp_path: Path
) -> None:
    incident_id, row_id = owed
    outbox.record_failure(runtime.store, [row_id], ERROR)
    sent: list[int] = []
    _relay_for(runtime, 2000, sent)
    assert _dead_gauge(runtime) == 1.0

    listed = _cli(tmp_path, "list", "--dead")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split(maxsplit=4) == [
        str(row_id),
        "event.received",
        "evt-never-done",
        "3",
        ERROR,
    ]
    assert _cli(tmp_path, "list").stdout.strip() == "nothing owed"

    retried = _cli(tmp_path, "retry", str(row_id))
    assert retried.returncode == 0, retried.stderr
    assert f"outbox row {row_id} (event.received evt-never-done) owed again" in retried.stdout
    assert _dead_gauge(runtime) == 0.0
    assert _relay(runtime, 3000, sent) == 1  # the next round sends it, with a fresh set of attempts
    again = _cli(tmp_path, "retry", str(row_id))
    assert again.returncode == 1
    assert f"outbox row {row_id} is not dead-lettered" in again.stderr and "Traceback" not in again.stderr
    told = [(kind, actor[:4]) for kind, actor, _ in _told(runtime, incident_id, row_id)]
    assert told == [(kinds.OUTBOX_DEAD, "syst"), (kinds.OUTBOX_RETRIED, "cli:")]
