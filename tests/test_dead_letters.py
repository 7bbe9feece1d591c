"""Dead letters: a row no worker ever finishes stops being sent after the cap, says why, lands on
its incident's timeline, shows in /metrics and the CLI, and is sent again by hand (rows whose
worker is killed: tests/test_dead_letters_killed.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.api.app import create_app
from orchestrator.incidents import news
from orchestrator.routing import ROUTES
from orchestrator.store import outbox
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline.models import SYSTEM_CHAIN
from orchestrator.worker.runtime import Runtime
from tests.support.dead_letters import CAP, owed_event, relay, relay_for, told
from tests.support.processes import orchestrator_env
from tests.support.runtime import API_TOKEN
from tests.support.server import serve_app
from tests.timeline.story import T0, build_incident


@pytest.fixture
def owed(runtime: Runtime) -> tuple[str, int]:
    """An incident (the story's), one of its events, and an outbox row for it no worker finishes
    whose worker said why: a token refused by the store (the message is the redacted one)."""
    return owed_event(runtime, "evt-never-done")


ERROR = "StoreError: the store refused a write"


def test_a_row_only_waiting_is_sent_again_for_ever_a_failing_one_is_dead_lettered_after_the_cap(
    runtime: Runtime, owed: tuple[str, int]
) -> None:
    """Sends alone are no failure: a batch may queue for hours behind the rate limit. Once its
    worker has reported an error, the cap applies; the dead letter lands on the incident."""
    incident_id, row_id = owed
    sent: list[int] = []
    relay_for(runtime, 2000, sent)
    assert len(sent) > CAP  # no error recorded: still relayed, never dead
    outbox.record_failure(runtime.store, [row_id], ERROR)
    assert relay(runtime, 2500, sent) == 0  # due again, failing and past the cap: dead instead
    with runtime.store.unit_of_work() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None and row.dead_at is not None and row.done_at is None
        assert (row.last_error, outbox.pending_count(session), outbox.dead_count(session)) == (ERROR, 0, 1)
    attempts = len(sent)
    assert relay(runtime, 9000, sent) == 0 and len(sent) == attempts
    assert told(runtime, incident_id, row_id) == [
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
    relay_for(runtime, 2000, sent, each=deliver)
    assert len(failures) == CAP and sent == [row_id] * CAP
    error = "ValueError: invalid literal for int() with base 10: 'no-such-step'"
    with runtime.store.unit_of_work() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None and row.last_error == error and row.dead_at is not None
    assert [data for _, _, data in told(runtime, SYSTEM_CHAIN, row_id)] == [
        {
            "outbox_id": row_id,
            "topic": "step.execute",
            "ref_id": "no-such-step",
            "attempts": 3,
            "last_error": error,
        }
    ]


def test_news_slack_never_took_is_told_on_its_incident(runtime: Runtime) -> None:
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        payload = {"what": "run.finished", "run_id": "run-gone"}
        row_id = outbox.enqueue(session, topic=news.NEWS, ref_id=incident_id, now=T0, payload=payload).id
    outbox.record_failure(runtime.store, [row_id], "SlackUnavailable: Slack chat.postMessage: HTTP 503")
    relay_for(runtime, 2000, [])
    assert [kind for kind, _, _ in told(runtime, incident_id, row_id)] == [kinds.OUTBOX_DEAD]


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
    relay_for(runtime, 2000, sent)
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
    assert relay(runtime, 3000, sent) == 1  # the next round sends it, with a fresh set of attempts
    again = _cli(tmp_path, "retry", str(row_id))
    assert again.returncode == 1
    assert f"outbox row {row_id} is not dead-lettered" in again.stderr and "Traceback" not in again.stderr
    entries = [(kind, actor[:4]) for kind, actor, _ in told(runtime, incident_id, row_id)]
    assert entries == [(kinds.OUTBOX_DEAD, "syst"), (kinds.OUTBOX_RETRIED, "cli:")]
