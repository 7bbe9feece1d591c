"""The pure engine: which steps run next for every combination of step states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.actions.registry import default_registry
from orchestrator.playbooks import (
    ApprovalTimeout,
    Plan,
    Playbook,
    ScheduleRetry,
    Start,
    StepState,
    TemplateFailed,
    cancellable,
    decide_step,
    next_actions,
    parse_playbook,
    rerun_states,
)
from orchestrator.playbooks.schemas import StepRetry

T0 = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)

REGISTRY = default_registry()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def playbook(steps: str, handlers: str = "") -> Playbook:
    text = "name: t\ntrigger: {match: {}}\nsteps:\n" + steps
    return parse_playbook(text + ("handlers:\n" + handlers if handlers else ""), registry=REGISTRY)


def step(step_id: str, extra: str = "", indent: int = 2) -> str:
    pad = " " * indent
    lines = [f"- id: {step_id}", "  action: note", "  with: {message: hi}"]
    lines += [f"  {line}" for line in extra.splitlines()]
    return "".join(f"{pad}{line}\n" for line in lines)


def ok(**kw: Any) -> StepState:
    return StepState(status="succeeded", attempt=1, **kw)


def failed(attempt: int = 1, finished: float = 0, **kw: Any) -> StepState:
    return StepState(status="failed", attempt=attempt, finished_at=at(finished), **kw)


SEQ = playbook(step("a") + step("b") + step("c"))
PAR = playbook(
    step("a")
    + "  - parallel:\n      id: p\n      steps:\n"
    + step("p1", indent=8)
    + step("p2", indent=8)
    + step("p3", indent=8)
    + step("z")
)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({}, Plan(status="running", due=("a",))),
        ({"a": StepState(status="running", attempt=1)}, Plan(status="running")),
        ({"a": ok()}, Plan(status="running", due=("b",))),
        ({"a": ok(), "b": StepState(status="skipped")}, Plan(status="running", due=("c",))),
        ({"a": ok(), "b": ok(), "c": ok()}, Plan(status="succeeded")),
    ],
)
def test_sequential_steps_run_one_after_another(states: dict[str, StepState], expected: Plan) -> None:
    assert next_actions(SEQ, states, T0) == expected


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"a": ok()}, Plan(status="running", due=("p1", "p2", "p3"))),
        (
            {"a": ok(), "p1": ok(), "p2": StepState(status="running", attempt=1), "p3": ok()},
            Plan(status="running"),
        ),
        (
            {"a": ok(), "p1": ok(), "p2": ok(), "p3": StepState(status="skipped")},
            Plan(status="running", due=("z",)),
        ),
    ],
)
def test_parallel_block_starts_together_and_joins(states: dict[str, StepState], expected: Plan) -> None:
    assert next_actions(PAR, states, T0) == expected


def test_failure_in_parallel_block_cancels_unstarted_siblings_and_waits_for_running() -> None:
    waiting = StepState(status="waiting_approval", approval_requested_at=T0)
    states = {
        "a": ok(),
        "p1": failed(retryable=False),
        "p2": StepState(status="running", attempt=1),
        "p3": waiting,
    }
    assert next_actions(PAR, states, T0) == Plan(status="running", cancel=("p3",))
    states |= {"p2": ok(), "p3": StepState(status="cancelled")}
    assert next_actions(PAR, states, T0) == Plan(status="failed", cancel=("z",))


RETRY = playbook(step("a", "retry: {attempts: 3, backoff: 10, max_backoff: 15}") + step("b"))


def test_retry_with_capped_backoff_then_success() -> None:
    assert next_actions(RETRY, {"a": failed(1, finished=0)}, at(1)) == Plan(
        status="running", retries=(ScheduleRetry(step_id="a", attempt=2, at=at(10)),)
    )
    scheduled = {"a": StepState(status="pending", attempt=1, next_attempt_at=at(10))}
    assert next_actions(RETRY, scheduled, at(5)) == Plan(status="running", wake_at=at(10))
    assert next_actions(RETRY, scheduled, at(10)) == Plan(
        status="running", start=(Start(step_id="a", attempt=2),)
    )
    assert next_actions(RETRY, {"a": failed(2, finished=20)}, at(20)) == Plan(
        status="running", retries=(ScheduleRetry(step_id="a", attempt=3, at=at(35)),)
    )
    assert next_actions(RETRY, {"a": ok()}, at(40)) == Plan(status="running", due=("b",))


def test_retries_exhausted_or_not_retryable_fail_the_run() -> None:
    final = Plan(status="failed", cancel=("b",))
    assert next_actions(RETRY, {"a": failed(3)}, at(100)) == final
    assert next_actions(RETRY, {"a": failed(1, retryable=False)}, at(100)) == final


def test_backoff_is_exponential_and_capped() -> None:
    policy = StepRetry(attempts=6, backoff=2, max_backoff=10)
    assert [policy.delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


TIMEOUT = playbook(step("a", "timeout: 30s\nretry: {attempts: 2, backoff: 0}"))


def test_running_step_times_out_and_is_retried() -> None:
    running = {"a": StepState(status="running", attempt=1, started_at=T0)}
    assert next_actions(TIMEOUT, running, at(10)) == Plan(status="running", wake_at=at(30))
    assert next_actions(TIMEOUT, running, at(30)) == Plan(status="running", timeouts=("a",))
    timed_out = {"a": StepState(status="timed_out", attempt=1, started_at=T0, finished_at=at(30))}
    assert next_actions(TIMEOUT, timed_out, at(30)) == Plan(
        status="running", retries=(ScheduleRetry(step_id="a", attempt=2, at=at(30)),)
    )
    timed_out = {"a": StepState(status="timed_out", attempt=2, finished_at=at(70))}
    assert next_actions(TIMEOUT, timed_out, at(70)) == Plan(status="failed")


HANDLED = playbook(
    step("a", "on_failure: continue")
    + step("b", "on_failure: {run: [h1, h2]}")
    + step("c", "on_failure: {run: [h1], then: continue}")
    + step("d"),
    handlers=step("h1") + step("h2"),
)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"a": failed()}, Plan(status="running", due=("b",))),
        (
            {"a": ok(), "b": failed()},
            Plan(status="running", due=("h1",), handlers=("h1",)),
        ),
        (
            {"a": ok(), "b": failed(), "h1": ok()},
            Plan(status="running", due=("h2",), handlers=("h2",)),
        ),
        (
            {"a": ok(), "b": failed(), "h1": ok(), "h2": ok()},
            Plan(status="failed", cancel=("c", "d")),
        ),
        (
            {"a": ok(), "b": failed(), "h1": failed()},
            Plan(status="failed", cancel=("c", "d", "h2")),
        ),
        (
            {"a": ok(), "b": ok(), "c": failed(), "h1": ok()},
            Plan(status="running", due=("d",)),
        ),
        (
            {"a": ok(), "b": ok(), "c": ok(), "d": ok()},
            Plan(status="succeeded", cancel=("h1", "h2")),
        ),
    ],
    ids=[
        "continue",
        "run first handler",
        "run next handler",
        "then abort",
        "handler fails",
        "then continue",
        "handlers never ran",
    ],
)
def test_on_failure_abort_continue_and_handlers(states: dict[str, StepState], expected: Plan) -> None:
    assert next_actions(HANDLED, states, T0) == expected


APPROVAL = playbook(
    step("deny", "approval: {approvers: [U1], timeout: 60, on_timeout: deny}")
    + step("go", "approval: {timeout: 60, on_timeout: approve}\non_failure: continue")
    + step("stop", "approval: {timeout: 60, on_timeout: abort}\non_failure: continue")
)


def waiting(decision: str | None = None) -> StepState:
    return StepState(status="waiting_approval", approval_requested_at=T0, approval=decision)


@pytest.mark.parametrize(
    ("states", "now", "expected"),
    [
        ({"deny": waiting()}, at(30), Plan(status="running", wake_at=at(60))),
        (
            {"deny": waiting("approved")},
            at(30),
            Plan(status="running", start=(Start(step_id="deny", attempt=1),)),
        ),
        ({"deny": waiting("denied")}, at(30), Plan(status="failed", cancel=("go", "stop"))),
        (
            {"deny": waiting()},
            at(60),
            Plan(status="running", approval_timeouts=(ApprovalTimeout(step_id="deny", decision="denied"),)),
        ),
        (
            {"deny": ok(), "go": waiting()},
            at(60),
            Plan(status="running", approval_timeouts=(ApprovalTimeout(step_id="go", decision="approved"),)),
        ),
        ({"deny": ok(), "go": waiting("denied")}, at(60), Plan(status="running", due=("stop",))),
        (
            {"deny": ok(), "go": ok(), "stop": waiting()},
            at(61),
            Plan(status="running", approval_timeouts=(ApprovalTimeout(step_id="stop", decision="aborted"),)),
        ),
        ({"deny": ok(), "go": ok(), "stop": waiting("aborted")}, at(61), Plan(status="failed")),
    ],
    ids=[
        "waits",
        "approved",
        "denied",
        "timeout denies",
        "timeout approves",
        "denied then continue",
        "timeout aborts",
        "abort ignores continue",
    ],
)
def test_approval_approved_denied_and_timed_out(
    states: dict[str, StepState], now: datetime, expected: Plan
) -> None:
    assert next_actions(APPROVAL, states, now) == expected


def test_decide_step_skips_on_false_condition_and_asks_for_approval() -> None:
    gated = playbook(
        step("a", "when: \"event.severity == 'critical'\"") + step("b", "approval: {approvers: [any]}")
    )
    ctx = {"event": {"severity": "high"}}
    assert decide_step(gated.step("a"), ctx) == "skip"
    assert decide_step(gated.step("a"), {"event": {"severity": "critical"}}) == "run"
    assert decide_step(gated.step("b"), ctx) == "request_approval"
    with pytest.raises(TemplateFailed, match="step 'a' when"):
        decide_step(gated.step("a"), {})


def test_cancel_and_rerun_states() -> None:
    states = {
        "a": ok(),
        "b": failed(retryable=False),
        "c": StepState(status="cancelled"),
        "d": StepState(status="running", attempt=1),
    }
    assert cancellable(states) == ["d"]
    fresh = StepState()
    assert rerun_states(HANDLED, states, "b") == {"b": fresh, "c": fresh}
    with pytest.raises(ValueError, match="only a failed step reruns"):
        rerun_states(HANDLED, states, "a")
