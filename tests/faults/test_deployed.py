"""Faults on the layouts operators deploy: PostgreSQL with Redis, PostgreSQL with RabbitMQ, the API,
two workers and the scheduler as separate processes (tests/revocation/concurrent.py ``deployment``).

The embedded default (SQLite, the folder broker, ``orchestrator up``) has the same scenarios in
test_process_kills.py. Each test asserts that its fault landed on work in progress, or fails;
repeats are held to ``in_flight_bound``, the one bound every fault test uses.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from tests.revocation.concurrent import Setup, deployment
from tests.support.figures import COMBINATIONS, record_figures
from tests.support.kills import KillingSenders, in_flight_bound, kill_mid_revocation, ledger_count
from tests.support.processes import wait_for
from tests.support.receiver import receiver

pytestmark = [pytest.mark.slow, pytest.mark.services]

DEPLOYED: list[Setup] = ["redis", "rabbitmq"]
TOKENS, RATE = 3000, 200.0
BATCH, WIDTH, THREADS = 250, 8, 4  # revocation_batch_size, revocation_concurrency, worker_concurrency


@pytest.mark.parametrize("killed", ["a worker", "every process"])
@pytest.mark.parametrize("setup", DEPLOYED)
def test_processes_killed_mid_revocation_leave_every_token_revoked_once(
    tmp_path: Path, setup: Setup, killed: str
) -> None:
    """One of two workers (or every process: API, both workers, scheduler) SIGKILLed a third of
    the way into the revocation a critical event started, and started again: every grant revoked,
    tokens sent twice at most those in ``sending`` at the kill (at most ``in_flight_bound`` for
    each of the two workers)."""
    with deployment(
        tmp_path,
        setup,
        tokens=TOKENS,
        rate=RATE,
        workers=2,
        revocation_batch_size=str(BATCH),
        revocation_concurrency=str(WIDTH),
        worker_concurrency=str(THREADS),
    ) as incidents:
        site = incidents.site
        workers = [p for p in site.procs if p.log.name.startswith("worker")]
        victims = workers[:1] if killed == "a worker" else list(site.procs)
        incidents.post_critical(1)
        wait_for(
            lambda: site.read(lambda s: ledger_count(s, "revoked", "already_dead")) >= TOKENS // 3,
            timeout=90,
            what="a third of the tokens revoked",
        )
        for victim in victims[:-1]:
            victim.kill()
        at_kill, in_flight = kill_mid_revocation(site, victims[-1])
        restarted = time.monotonic()
        for victim in victims:  # the log is named after the command: serve-0.log, worker-1.log
            site.start(victim.log.name.split("-")[0])
        site.healthy()
        incidents.revoked_at_all(1, timeout=180)
        seconds = time.monotonic() - restarted
        settled = incidents.settled()
        repeats = incidents.repeats()
        revoked = incidents.all_revoked()
    bound = in_flight_bound(threads=THREADS, batch=BATCH, width=WIDTH)
    record_figures(
        f"{killed} SIGKILLed mid-revocation",
        COMBINATIONS[setup],
        tokens=TOKENS,
        settled_at_kill=at_kill,
        sending_at_kill=in_flight,
        in_flight_bound=bound,
        sent_twice=repeats,
        kill_to_revoked_s=seconds,
    )
    assert 0 < at_kill < TOKENS  # the kill landed mid-revocation
    assert revoked and settled == TOKENS
    # ``sending`` counts both workers' claims; only a killed one's can be sent twice
    assert repeats <= in_flight <= 2 * bound


def _low(key: str) -> dict[str, Any]:
    return {"title": f"burst {key}", "kind": "host.compromise", "severity": "low", "dedup_key": key}


@pytest.mark.parametrize("setup", DEPLOYED)
def test_the_api_killed_mid_burst_loses_and_doubles_no_accepted_event(tmp_path: Path, setup: Setup) -> None:
    """The API SIGKILLed while eight senders post a burst, with requests in flight: every event it
    answered 202 is correlated exactly once after a restart; nothing unanswered is stored twice."""
    keys = [f"burst-{i}" for i in range(400)]
    with deployment(tmp_path, setup, tokens=1, rate=RATE, workers=2) as incidents:
        site = incidents.site
        senders = KillingSenders(site, site.procs[0], kill_at=len(keys) // 3, event=_low)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(senders.send, keys))
        assert senders.killed.is_set()
        accepted, unanswered = senders.accepted, senders.unanswered
        answered = set(accepted)  # 202 before the kill: stored once, whatever the kill cut
        site.start("serve")
        site.healthy()
        for key in keys:  # the senders retry what was never answered and send what they had left
            if key not in accepted:
                assert site.post(_low(key)) == 202
                accepted.add(key)

        def settled() -> bool:
            owed = site.read(lambda s: s.scalar(select(func.count()).where(OutboxRow.done_at.is_(None))))
            return owed == 0

        wait_for(settled, timeout=120, what="every outbox row done")
        stored = site.read(lambda s: list(s.scalars(select(EventRow.dedup_key))))
        incidents_by_key = site.read(
            lambda s: list(s.execute(select(IncidentRow.dedup_key, IncidentRow.event_count)))
        )
        received = site.read(
            lambda s: list(
                s.scalars(
                    select(func.count())
                    .where(TimelineEntryRow.kind == kinds.EVENT_RECEIVED)
                    .group_by(TimelineEntryRow.chain)
                )
            )
        )
    retried = len(unanswered)
    record_figures(
        "API SIGKILLed mid-burst",
        COMBINATIONS[setup],
        sent=len(keys),
        unanswered_at_kill=retried,
        stored=len(stored),
        incidents=len(incidents_by_key),
    )
    assert retried > 0  # the kill cut requests in flight
    assert sorted({key for key, _ in incidents_by_key}) == sorted(keys)
    assert len(incidents_by_key) == len(keys) and {n for _, n in incidents_by_key} <= {1, 2}
    # an unanswered event may have been stored before the kill and sent again: two events, one
    # incident; an event answered 202 was never sent again, so it is stored once
    doubled = {key for key, n in incidents_by_key if n == 2}
    assert doubled <= unanswered and not doubled & answered
    assert sum(n for _, n in incidents_by_key) == len(stored) <= len(keys) + retried
    assert received and set(received) <= {1, 2} and len(received) == len(keys)


CRASHABLE = """
name: crashable
trigger: {match: {kinds: ["test.crash"], min_severity: low}}
steps:
  - {id: revoke, action: tiktok.revoke_tokens, with: {scope: all}}
  - {id: before, action: http.post, with: {url: "HOOKS/before", json: {}}}
  - {id: after, action: http.post, with: {url: "HOOKS/after", json: {}}}
"""


@pytest.mark.parametrize("setup", DEPLOYED)
def test_a_worker_killed_mid_playbook_step_finishes_the_run_once(tmp_path: Path, setup: Setup) -> None:
    """The worker running a playbook's webhook step SIGKILLed while the call is open (sent, not
    answered), and a replacement started: the run succeeds once, the call redone once under the
    same ``Idempotency-Key``, every other effect done once, every token revoked once."""
    books = tmp_path / "books"
    books.mkdir()
    with receiver(hold=frozenset({"/before"})) as hooks:
        (books / "crashable.yaml").write_text(CRASHABLE.replace("HOOKS", hooks.url))
        with deployment(
            tmp_path, setup, tokens=40, rate=RATE, workers=2, playbook_dirs=json.dumps([str(books)])
        ) as incidents:
            site = incidents.site
            event = {"title": "crash", "kind": "test.crash", "severity": "low", "dedup_key": "crash"}
            assert site.post(event) == 202
            assert hooks.held.wait(60), "the before step never sent its webhook"
            port = hooks.calls[0]["port"]
            victim = next(p for p in site.procs if p.log.name.startswith("worker") and p.holds_port(port))
            step = site.read(
                lambda s: s.scalars(select(StepRunRow.status).where(StepRunRow.step_id == "before")).one()
            )
            victim.kill()  # inside the effect: the call is at the receiver, its answer not back
            hooks.release.set()
            restarted = time.monotonic()
            site.start("worker")
            run = wait_for(
                lambda: site.read(
                    lambda s: s.scalars(select(RunRow).where(RunRow.status != "running")).all()
                ),
                timeout=90,
                what="the run to finish after the restart",
            )
            seconds = time.monotonic() - restarted
            entries = site.read(
                lambda s: Counter(
                    (e.kind, (e.data or {}).get("step")) for e in s.scalars(select(TimelineEntryRow))
                )
            )
            events = site.read(
                lambda s: list(s.execute(select(IncidentRow.dedup_key, IncidentRow.event_count)))
            )
            revoked = incidents.all_revoked()
            settled, repeats = incidents.settled(), incidents.repeats()
    paths = Counter(c["path"] for c in hooks.calls)
    record_figures(
        "a worker SIGKILLed mid-playbook step",
        COMBINATIONS[setup],
        webhook_calls=sum(paths.values()),
        restart_to_finished_s=seconds,
    )
    assert step == "running"  # the kill interrupted the step in progress
    assert [r.status for r in run] == ["succeeded"]
    assert paths == {"/before": 2, "/after": 1}  # the interrupted call, redone once
    assert len({c["headers"]["idempotency-key"] for c in hooks.calls if c["path"] == "/before"}) == 1
    assert entries[(kinds.RUN_FINISHED, None)] == 1
    assert [entries[(kinds.STEP_SUCCEEDED, s)] for s in ("revoke", "before", "after")] == [1, 1, 1]
    assert events == [("crash", 1)]
    assert revoked and settled == 40 and repeats == 0  # the revocation was done before the kill
