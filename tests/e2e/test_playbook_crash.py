"""A worker SIGKILLed in the middle of an effectful step, its webhook sent and unanswered: after a
restart the run completes, the interrupted call is redone under the same ``Idempotency-Key`` (the
receiver's dedup key: the worker cannot know whether it landed) and every other effect happened
exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import load_settings
from orchestrator.playbooks import flows, service
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.processes import Proc, orchestrator_env, wait_for, wait_schema
from tests.support.receiver import receiver
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN

pytestmark = pytest.mark.slow

BOOK = """
name: crashable
trigger: {manual: {inputs: {url: {type: string, required: true}}}}
steps:
  - {id: mark, action: note, with: {message: "started"}}
  - {id: before, action: http.post, with: {url: "{{ inputs.url }}/before", json: {}}}
  - {id: after, action: http.post, with: {url: "{{ inputs.url }}/after", json: {}}}
"""


def test_run_survives_a_worker_killed_mid_step(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "crashable.yaml").write_text(BOOK)
    settings = {
        "intake_token": INTAKE_TOKEN,
        "api_token": API_TOKEN,
        "redeliver_after_seconds": "2",
        "relay_interval_seconds": "0.2",
        "playbook_dirs": json.dumps([str(books)]),
    }
    env = orchestrator_env(tmp_path / "data", **settings)
    procs: list[Proc] = []

    def start(*args: str) -> Proc:
        procs.append(Proc(list(args), env=env, cwd=tmp_path, log=tmp_path / f"{args[0]}-{len(procs)}.log"))
        return procs[-1]

    runtime = Runtime(
        load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "playbook_dirs": [books],
                "intake_token": INTAKE_TOKEN,
                "api_token": API_TOKEN,
            }
        )
    )
    try:
        with receiver(hold=frozenset({"/before"})) as hooks:
            start("scheduler")
            victim = start("worker")
            wait_schema(runtime.settings.store_url)
            run_id = flows.start_manual_run(
                runtime.transaction,
                playbook=runtime.playbooks["crashable"],
                given_inputs={"url": hooks.url},
                incident_id=None,
                dry_run=False,
                actor="cli:tester",
            )

            def step(step_id: str) -> str:
                with runtime.store.unit_of_work() as session:
                    return service.get_step(session, run_id=run_id, step_id=step_id).status

            assert hooks.held.wait(30), "the before step never sent its webhook"
            # the fault lands inside the effect: the call is at the receiver, its answer not back
            assert step("before") == "running"
            victim.kill()
            hooks.release.set()
            start("worker")

            def finished() -> str | None:
                with runtime.store.unit_of_work() as session:
                    status = service.get_run(session, run_id=run_id).status
                return status if status != "running" else None

            assert wait_for(finished, timeout=60, what="the run to finish after the restart") == "succeeded"
            paths = sorted(c["path"] for c in hooks.calls)
            assert paths == ["/after", "/before", "/before"]  # the interrupted call, redone once
            keys = {c["headers"]["idempotency-key"] for c in hooks.calls if c["path"] == "/before"}
            assert len(keys) == 1
            with runtime.store.unit_of_work() as session:
                entries = timeline.entries(session, run_id)
            assert [e.message for e in entries if e.kind == "note"] == ["started"]
            succeeded = [e.data["step"] for e in entries if e.kind == "step.succeeded"]
            assert sorted(succeeded) == ["after", "before", "mark"]
    finally:
        for proc in procs:
            proc.stop()
        runtime.close()
