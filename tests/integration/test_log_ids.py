"""A worker's log lines name what they concern: the correlation of an event carries its event_id and
incident_id, a playbook step its run_id and incident_id (README: logs have the ids bound).

The ids are bound by the flows themselves: the event is posted over HTTP and a worker correlates
it and runs a playbook; the test only reads the JSON lines the process wrote.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.events.models import EventRow
from orchestrator.logging import configure_logging
from orchestrator.playbooks.models import RunRow
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app
from tests.support.worker import in_process_worker

PLAYBOOK = """\
name: record-host
description: Record which host an event names
trigger:
  match: {kinds: ["host.*"], min_severity: low, max_severity: low}
steps:
  - id: record
    action: note
    with: {message: "Seen on {{ event.entities.hosts | join(', ') }}"}
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Runtime, str, io.StringIO]]:
    """API and an in-process worker on the embedded broker, logging JSON lines to a buffer (a
    StringIO is written in place, not by the log writer thread)."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "record-host.yaml").write_text(PLAYBOOK, encoding="utf-8")
    settings = load_settings(
        overrides={
            "data_dir": tmp_path / "data",
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "playbook_dirs": [folder],
        }
    )
    stream = io.StringIO()
    with ExitStack() as stack:
        runtime = make_runtime(settings)
        stack.callback(runtime.close)
        stack.callback(configure_logging, "warning", "json")
        # The worker sets the root level from its loglevel: INFO keeps the flows' lines.
        stack.enter_context(in_process_worker(runtime, concurrency=2, loglevel="INFO"))
        configure_logging("info", "json", stream=stream)
        yield runtime, stack.enter_context(serve_app(create_app(runtime))), stream


def _lines(stream: io.StringIO, event: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line["event"] == event]


def test_worker_lines_carry_the_event_incident_and_run_they_concern(
    live: tuple[Runtime, str, io.StringIO],
) -> None:
    runtime, base_url, stream = live
    event = {
        "title": "Scanner on ci-7",
        "kind": "host.scan",
        "severity": "low",
        "entities": {"hosts": ["ci-7"]},
    }
    answer = httpx.post(
        f"{base_url}/v1/events", json=event, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
    )
    assert answer.status_code == 202
    event_id = answer.json()["event_id"]

    def finished_step() -> dict[str, Any] | None:
        steps = [line for line in _lines(stream, "step finished") if line.get("step") == "record"]
        return steps[0] if steps else None

    step = wait_for(finished_step, timeout=30, what="the playbook's step to finish")
    with runtime.store.unit_of_work() as session:
        incident_id = session.scalars(select(EventRow.incident_id).where(EventRow.id == event_id)).one()
        run_id = session.scalars(select(RunRow.id).where(RunRow.playbook_name == "record-host")).one()
    [correlated] = _lines(stream, "events correlated")
    assert (correlated["event_id"], correlated["incident_id"]) == (event_id, incident_id)
    assert (step["run_id"], step["incident_id"], step["status"]) == (run_id, incident_id, "succeeded")
