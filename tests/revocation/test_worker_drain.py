"""A revocation worker stopped (SIGTERM) in the middle of a revocation hands back what it holds
within ``worker_drain_seconds``, and a replacement goes on within seconds (issue 30, item 1).

Before, the worker's supervisor killed its Celery child 10 s after the SIGTERM while a batch was
still revoking: its claims and lease stayed held until the lease ran out (a minute at the
default ``redeliver_after_seconds``), and nothing was revoked meanwhile.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.revocation.models import LedgerRow
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from tests.revocation.concurrent import deployment
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.services]

DRAIN_S = 8.0


def test_a_stopped_revocation_worker_hands_back_and_a_replacement_goes_on(tmp_path: Path) -> None:
    with deployment(
        tmp_path,
        "redis",
        tokens=3000,
        rate=100,
        redeliver_after_seconds="30",  # the production default: a lease outlives a kill by a minute
        worker_drain_seconds=f"{DRAIN_S:g}",
    ) as site:
        site.post_critical(1)
        wait_for(lambda: site.settled() >= 600, timeout=60, what="a fifth of the tokens revoked")
        [worker] = [p for p in site.site.procs if "worker" in p.log.name]
        site.site.start("worker")  # the replacement, as an orchestrator starts one
        asked = time.monotonic()
        worker.stop()
        stopped_s = time.monotonic() - asked
        site.revoked_at_all(1, timeout=120)
        settled = select(LedgerRow.updated_at).where(LedgerRow.updated_at.is_not(None))
        times: list[datetime] = sorted(t for t in site.site.read(lambda s: list(s.scalars(settled))) if t)
        paused = site.site.read(
            lambda s: list(
                s.scalars(
                    select(TimelineEntryRow.message).where(
                        TimelineEntryRow.kind == kinds.REVOCATION_PROGRESS,
                        TimelineEntryRow.message.startswith("Revocation paused"),
                    )
                )
            )
        )
        repeats = site.repeats()
        stopped_log = worker.log.read_text(errors="replace")[-4000:]  # says why, should it fail
    longest = max((b - a).total_seconds() for a, b in itertools.pairwise(times))
    print(f"FIGURE: worker stopped in {stopped_s:.1f}s; longest pause {longest:.1f}s; repeats {repeats}")
    assert stopped_s < DRAIN_S + 5, stopped_log
    assert longest < DRAIN_S + 10, stopped_log
    assert repeats == 0
    assert paused, "the timeline says why the revocation paused"
