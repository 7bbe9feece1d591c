"""Five minutes of the soak (benchmarks/soak.py) in CI: 100 events/s of storms, distinct alerts and
critical leaks revoking 1,000 tokens each on PostgreSQL + Redis, the API, two workers and the
scheduler as separate processes. Its assertions are about growth and accounting, not speed: no
process's memory grows 10 % after the warm-up, the outbox stays bounded and drains, every event
is correlated, every leak revoked, every run succeeded, no token sent twice. The hour runs by
``python -m benchmarks soak``."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import GROWTH_GOAL, soak
from tests.support.figures import record_figure

pytestmark = [pytest.mark.slow, pytest.mark.services]

MINUTES = 5.0
COMBINATION = "PostgreSQL + Redis"


def test_five_minutes_at_100_events_a_second_grow_nothing(tmp_path: Path) -> None:
    result = soak(tmp_path, MINUTES)
    for figure in result.figures("pytest tests/faults/test_soak.py"):
        record_figure(f"soak {MINUTES:g} min: {figure.name}", figure.value, figure.unit, COMBINATION)
    growth = {name: round(result.growth(name), 3) for name in result.rss}
    assert all(g < GROWTH_GOAL for g in growth.values()), growth
    half = len(result.outbox) // 2
    assert max(result.outbox[half:]) <= 2 * max(result.outbox[:half]) + 100, result.outbox  # bounded
    assert result.load["statuses"] == {202: result.load["requests"]}
    assert result.correlated == result.accepted
    assert result.leaks == MINUTES * 2 and result.leaks_revoked == result.leaks
    assert result.runs_unfinished == 0 and result.outbox_left == 0
    assert result.repeats == 0
