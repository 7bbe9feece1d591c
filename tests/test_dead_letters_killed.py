"""Dead letters of rows whose worker is SIGKILLed: a killed worker writes no error, so the mark it
left (``store/marks.py``) is what the next worker writes as its death, and a row that kills every
worker taking it reaches the cap; a row redelivered while its holder lives never does."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import select

from orchestrator import heartbeats
from orchestrator.heartbeats import Beat
from orchestrator.playbooks import flows
from orchestrator.playbooks.loader import parse_playbook
from orchestrator.playbooks.models import StepRunRow
from orchestrator.revocation.models import BatchRow, RevocationRow
from orchestrator.routing import ROUTES
from orchestrator.store import marks, outbox
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.worker.runtime import Runtime
from tests.support.dead_letters import CAP, deliver_until_dead, owed_event, relay_for, stored_row, told
from tests.timeline.story import T0, build_incident


def test_a_row_whose_worker_dies_every_time_is_dead_lettered(either_store: Runtime) -> None:
    """A worker SIGKILLed on a row (out of memory) writes no error; the next worker to start the
    row finds the dead one's mark and writes the death, so the cap applies as for a raise."""
    runtime = either_store
    incident_id, row_id = owed_event(runtime, "evt-killer")
    workers = iter(f"worker-host:{pid}" for pid in range(100, 200))  # none of them beats: all dead
    sent: list[int] = []
    killed: list[str] = []

    def start_and_die() -> None:
        killed.append(next(workers))
        marks.begin(runtime.store, [row_id], killed[-1], heartbeats.live_processes)  # no end: killed

    relay_for(runtime, 2000, sent, each=start_and_die)
    assert sent == [row_id] * CAP and len(killed) == CAP
    row = stored_row(runtime, row_id)
    assert row.dead_at is not None and row.done_at is None
    assert row.last_error == f"worker {killed[-2]} died while running this row"
    (entry,) = told(runtime, incident_id, row_id)
    assert entry[:2] == (kinds.OUTBOX_DEAD, "system") and entry[2]["last_error"] == row.last_error


def test_a_redelivery_while_the_holder_lives_counts_nothing(either_store: Runtime) -> None:
    """A row redelivered while the worker running it still beats (a slow step, a long revocation
    batch) is not failing: the second start takes nothing from the holder and writes no error,
    and the relay goes on sending it; the holder's end clears its mark."""
    runtime = either_store
    _, row_id = owed_event(runtime, "evt-killer")
    holder = Beat("worker", ("default",), host="worker-host", pid=7)
    heartbeats.beat(runtime.store, holder)
    marks.begin(runtime.store, [row_id], holder.process, heartbeats.live_processes)
    sent: list[int] = []

    def start_again() -> None:
        marks.begin(runtime.store, [row_id], "worker-host:8", heartbeats.live_processes)
        marks.end(runtime.store, [row_id], "worker-host:8")
        heartbeats.beat(runtime.store, holder)  # it is still running the row

    relay_for(runtime, 2000, sent, each=start_again)
    assert len(sent) > CAP  # past the cap and still sent: nothing failed
    row = stored_row(runtime, row_id)
    assert (row.last_error, row.dead_at, row.started_by) == (None, None, holder.process)
    marks.end(runtime.store, [row_id], holder.process)
    assert stored_row(runtime, row_id).started_by is None


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
    _, row_id = owed_event(runtime, "evt-killer")
    killed, restarted = _identity_of_a_process_with_pid_one(), _identity_of_a_process_with_pid_one()
    assert killed != restarted and killed.rsplit(":", 1)[0] == restarted.rsplit(":", 1)[0]
    marks.begin(runtime.store, [row_id], killed, heartbeats.live_processes)  # then SIGKILLed
    marks.begin(runtime.store, [row_id], restarted, heartbeats.live_processes)
    row = stored_row(runtime, row_id)
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
    deaths = deliver_until_dead(
        runtime, row_id, StepRunRow, runtime.celery.tasks[ROUTES["step.execute"].task]
    )
    row = stored_row(runtime, row_id)
    assert row.dead_at is not None, f"still sent after {len(deaths)} deaths"
    assert len(deaths) <= CAP  # each death counted, the deliveries that found the lease held not
    assert row.last_error is not None and row.last_error.startswith("worker test-host:")


def test_a_revocation_batch_that_kills_every_worker_taking_it_is_dead_lettered(
    either_store: Runtime,
) -> None:
    """A batch whose worker is SIGKILLed every time (a token that takes the process down): before,
    each delivery that found the dead worker's lease held reset the row's sends to one, so the
    batch was sent for ever and its revocation never finished nor said why. Now each death
    counts, the batch is dead-lettered on its incident's timeline, and dead-lettering sends
    nothing: its tokens wait, claimed or pending, for ``outbox retry`` (whose worker probes a
    token a dead worker may have sent before sending it again)."""
    runtime = either_store
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        revocation = RevocationRow(
            id="rev-killer", key="run-killer:revoke", incident_id=incident_id, scope={"all": True},
            status="running", plan_done=True, created_at=T0,
        )  # fmt: skip
        session.add(revocation)
        session.flush()
        batch = BatchRow(revocation_id=revocation.id, open_ids=["user-1", "user-2"], done=False)
        session.add(batch)
        session.flush()
        row_id = outbox.enqueue(session, topic="revocation.batch", ref_id=str(batch.id), now=T0).id
    task = runtime.celery.tasks[ROUTES["revocation.batch"].task]
    deaths = deliver_until_dead(runtime, row_id, BatchRow, task)
    row = stored_row(runtime, row_id)
    assert row.dead_at is not None, f"still sent after {len(deaths)} deaths"
    assert len(deaths) <= CAP
    assert row.last_error == f"worker {deaths[-2]} died while running this row"
    with runtime.store.unit_of_work() as session:
        assert outbox.dead_count(session) == 1
    ((kind, actor, data),) = told(runtime, incident_id, row_id)
    assert (kind, actor, data["topic"], data["last_error"]) == (
        kinds.OUTBOX_DEAD, "system", "revocation.batch", row.last_error,
    )  # fmt: skip
