"""`drill.schedule`: the scheduler starts a drill when the last one is older than the schedule."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from orchestrator.config import load_settings
from orchestrator.drill.run import DRILL_CHAIN
from orchestrator.drill.schedule import SCHEDULED, start_if_due
from orchestrator.timeline import service as timeline
from tests.support.runtime import make_runtime


def test_a_due_drill_starts_once_per_period(tmp_path: Path) -> None:
    runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path, "drill": {"schedule": "7d"}}))
    first = start_if_due(runtime)
    try:
        assert first is not None
        assert start_if_due(runtime) is None  # the next one is a week away
        with runtime.store.unit_of_work() as session:
            kinds = [e.kind for e in timeline.entries(session, DRILL_CHAIN)]
        assert kinds == [SCHEDULED]
    finally:
        if first is not None:
            os.killpg(first.pid, signal.SIGTERM)
            first.wait(30)
        runtime.close()


def test_no_schedule_no_drill(tmp_path: Path) -> None:
    runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path}))
    assert start_if_due(runtime) is None
    runtime.close()
