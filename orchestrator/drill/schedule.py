"""Scheduled drills: the scheduler starts ``orchestrator drill`` when ``drill.schedule`` says so."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from orchestrator import clock
from orchestrator.drill.run import DRILL_CHAIN
from orchestrator.durations import parse_duration
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime

__all__ = ["SCHEDULED", "start_if_due"]

SCHEDULED = "drill.scheduled"
_running: list[subprocess.Popen[bytes]] = []


def start_if_due(runtime: Runtime) -> subprocess.Popen[bytes] | None:
    """Start a drill in its own process when the last one is older than the schedule."""
    schedule = runtime.settings.drill.schedule
    if not schedule:
        return None
    now = clock.utcnow()
    with runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, DRILL_CHAIN)
        last = max((e.at for e in entries if e.kind in (SCHEDULED, "drill.finished")), default=None)
        if last is not None and now - last < timedelta(seconds=parse_duration(schedule)):
            return None
        timeline.append_entry(
            session,
            chain=DRILL_CHAIN,
            actor="scheduler",
            kind=SCHEDULED,
            message=f"Scheduled drill started (every {schedule})",
            data={"schedule": schedule},
            at=now,
        )
    with (runtime.settings.data_dir / "drills.log").open("ab") as log:
        process = subprocess.Popen(  # its own process: a drill takes minutes, the scheduler goes on
            [sys.executable, "-m", "orchestrator", "drill"],
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _running[:] = [p for p in _running if p.poll() is None] + [process]  # reaped, never orphaned
    return process
