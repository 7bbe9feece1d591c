"""The one retry helper: full-jitter bounds, capped attempts, Retry-After wins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.retry import (
    RetryPolicy,
    backoff_delay,
    call_with_retry,
    next_delay,
    parse_retry_after,
)


@given(
    attempt=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=120.0),
)
def test_backoff_stays_within_full_jitter_bounds(attempt: int, draw: float, base: float, cap: float) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap)
    delay = backoff_delay(attempt, policy, rng=lambda: draw)
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt - 1, 62))


def test_backoff_ceiling_doubles_then_caps() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    ceilings = [backoff_delay(n, policy, rng=lambda: 1.0) for n in range(1, 6)]
    assert ceilings == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_in_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 26, 16, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Thu, 26 Nov 2026 16:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 26 Nov 2026 15:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3") == 0.0
    assert [parse_retry_after(v) for v in (None, "", "soon", "nan")] == [None] * 4


def test_server_retry_after_replaces_backoff_but_is_capped() -> None:
    policy = RetryPolicy(base_delay=10.0, max_retry_after=60.0)
    assert next_delay(1, policy, retry_after=2.0, rng=lambda: 0.9) == 2.0
    assert next_delay(1, policy, retry_after=3600.0) == 60.0
    assert next_delay(1, policy, retry_after=None, rng=lambda: 0.5) == 5.0


def test_call_with_retry_stops_at_the_attempt_cap_and_returns_the_last_result() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def failing() -> str:
        calls.append(1)
        return f"fail-{len(calls)}"

    result = call_with_retry(
        failing,
        should_retry=lambda r: r.startswith("fail"),
        policy=RetryPolicy(max_attempts=3, base_delay=1.0),
        sleep=slept.append,
        rng=lambda: 0.5,
    )
    assert (result, len(calls), slept) == ("fail-3", 3, [0.5, 1.0])


def test_call_with_retry_honours_retry_after_and_stops_on_success() -> None:
    answers = iter([("busy", 4.0), ("busy", None), ("done", None)])
    slept: list[float] = []
    result = call_with_retry(
        lambda: next(answers),
        should_retry=lambda r: r[0] == "busy",
        retry_after=lambda r: r[1],
        policy=RetryPolicy(max_attempts=5, base_delay=1.0),
        sleep=slept.append,
        rng=lambda: 0.25,
    )
    assert (result, slept) == (("done", None), [4.0, 0.5])


def test_on_retryable_sees_every_retryable_result_the_last_included_before_each_wait() -> None:
    answers = iter([("busy", 1), ("busy", 2), ("busy", 3)])
    events: list[str] = []
    result = call_with_retry(
        lambda: next(answers),
        should_retry=lambda r: r[0] == "busy",
        on_retryable=lambda r: events.append(f"penalise {r[1]}"),
        policy=RetryPolicy(max_attempts=3, base_delay=1.0),
        sleep=lambda s: events.append("sleep"),
        rng=lambda: 0.5,
    )
    assert result == ("busy", 3)
    assert events == ["penalise 1", "sleep", "penalise 2", "sleep", "penalise 3"]


def test_on_retryable_is_not_called_for_an_answer_that_ends_the_retries() -> None:
    answers = iter([("busy", 1), ("done", 2)])
    seen: list[int] = []
    result = call_with_retry(
        lambda: next(answers),
        should_retry=lambda r: r[0] == "busy",
        on_retryable=lambda r: seen.append(r[1]),
        policy=RetryPolicy(max_attempts=5, base_delay=0.0),
        sleep=lambda _s: None,
    )
    assert (result, seen) == (("done", 2), [1])


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1.0)
