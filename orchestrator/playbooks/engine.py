"""Pure playbook engine: from a playbook and its step states, decide what happens next.

No I/O and no clock: the caller passes ``now``, applies every decision of the Plan to
its store, and calls ``next_actions`` again until the plan is idle, then sleeps until
``plan.wake_at``. Step lifecycle::

    pending --due--> decide_step: skip -> skipped
                                  request_approval -> waiting_approval --approved--> running
                                  run -> running
    running --ok--> succeeded | --error/timeout--> failed/timed_out
    failed --retries left--> pending (next_attempt_at) --> running (attempt + 1)
    failed for good --> on_failure: abort | continue | run handlers, then abort/continue

How the caller records facts (the engine reads nothing else):
- step started: ``running``, ``attempt`` + 1, ``started_at``.
- step ended: ``succeeded``, or ``failed`` with ``retryable`` (ActionError.retryable;
  False for TemplateFailed) and ``finished_at``; a step past its timeout: ``timed_out``.
- retry scheduled: ``pending`` with ``next_attempt_at`` (``attempt`` unchanged).
- approval asked: ``waiting_approval`` with ``approval_requested_at``; decided (by a
  person or ApprovalTimeout): set ``approval`` (leaving the status, or ``failed`` for
  denied/aborted). ``aborted`` fails the run whatever ``on_failure`` says.
- a handler runs at most once per run, even when several failures name it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from orchestrator.playbooks import templates
from orchestrator.playbooks.schemas import ParallelBlock, Playbook, RunHandlers, Step, Unit

__all__ = [
    "ApprovalDecision",
    "ApprovalTimeout",
    "Plan",
    "RunStatus",
    "ScheduleRetry",
    "Start",
    "StepDecision",
    "StepState",
    "StepStatus",
    "cancellable",
    "decide_step",
    "next_actions",
    "rerun_states",
]

StepStatus = Literal[
    "pending",
    "running",
    "waiting_approval",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "timed_out",
]
ApprovalDecision = Literal["approved", "denied", "aborted"]
RunStatus = Literal["running", "succeeded", "failed"]
StepDecision = Literal["skip", "request_approval", "run"]
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "cancelled", "timed_out"})
_OK, _BUSY, _FAILED = "ok", "busy", "failed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepState(_Frozen):
    """What the store knows about one step; a step without a state is pending, attempt 0.

    ``attempt`` counts attempts started. ``retryable`` is False when the last failure
    cannot succeed on another attempt (ActionError.retryable, a template error).
    """

    status: StepStatus = "pending"
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None
    approval_requested_at: datetime | None = None
    approval: ApprovalDecision | None = None
    retryable: bool = True


class Start(_Frozen):
    """Run attempt ``attempt`` of the step now (approved steps and due retries)."""

    step_id: str
    attempt: int


class ScheduleRetry(_Frozen):
    """Set the failed step to pending with ``next_attempt_at = at``; it starts then."""

    step_id: str
    attempt: int
    at: datetime


class ApprovalTimeout(_Frozen):
    """Nobody decided in time: record ``decision`` (by the system) for the step."""

    step_id: str
    decision: ApprovalDecision


class Plan(_Frozen):
    """Everything to do now; the caller applies each list, then asks again.

    - ``due``: pending steps whose turn came: call ``decide_step`` for each.
    - ``start``: run these attempts now (mark running, attempt, started_at).
    - ``retries``: failed attempts to retry later.
    - ``timeouts``: running steps past their timeout: mark timed_out.
    - ``approval_timeouts``: approvals past their deadline: record the decision.
    - ``cancel``: steps that will never run (the run ended, or a sibling aborted).
    - ``handlers``: the subset of ``due`` that are failure handlers, triggered now.
    - ``wake_at``: call ``next_actions`` again at this time at the latest.
    """

    status: RunStatus
    due: tuple[str, ...] = ()
    start: tuple[Start, ...] = ()
    retries: tuple[ScheduleRetry, ...] = ()
    timeouts: tuple[str, ...] = ()
    approval_timeouts: tuple[ApprovalTimeout, ...] = ()
    cancel: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()
    wake_at: datetime | None = None

    @property
    def idle(self) -> bool:
        """True when nothing is to be done until ``wake_at`` or an outside event."""
        return not (
            self.due or self.start or self.retries or self.timeouts or self.approval_timeouts or self.cancel
        )


@dataclass
class _Walk:
    playbook: Playbook
    states: Mapping[str, StepState]
    now: datetime
    due: list[str] = field(default_factory=list)
    start: list[Start] = field(default_factory=list)
    retries: list[ScheduleRetry] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)
    approval_timeouts: list[ApprovalTimeout] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    handlers: list[str] = field(default_factory=list)
    wakes: list[datetime] = field(default_factory=list)
    chain: tuple[str, ...] = ()

    def scratch(self) -> _Walk:
        return _Walk(self.playbook, self.states, self.now, chain=self.chain)

    def state(self, step_id: str) -> StepState:
        return self.states.get(step_id) or StepState()

    def wake(self, at: datetime) -> str:
        self.wakes.append(at)
        return _BUSY

    def sequence(self, units: Sequence[Unit], *, handler: bool = False) -> str:
        for unit in units:
            if handler and isinstance(unit, Step) and self.state(unit.id) == StepState():
                self.handlers.append(unit.id)
            outcome = self.unit(unit)
            if outcome != _OK:
                return outcome
        return _OK

    def unit(self, unit: Unit) -> str:
        if not isinstance(unit, ParallelBlock):
            return self.step(unit, stopping=False)
        probe = self.scratch()
        stopping = any(probe.step(s, stopping=False) == _FAILED for s in unit.steps)
        outcomes = [self.step(s, stopping=stopping) for s in unit.steps]
        if _BUSY in outcomes:
            return _BUSY
        return _FAILED if _FAILED in outcomes else _OK

    def step(self, step: Step, *, stopping: bool) -> str:
        st = self.state(step.id)
        if st.status in ("succeeded", "skipped"):
            return _OK
        if st.status == "cancelled":
            return _FAILED
        if stopping and st.status in ("pending", "waiting_approval"):
            self.cancel.append(step.id)
            return _FAILED
        if st.status == "pending":
            if st.attempt == 0:
                self.due.append(step.id)
                return _BUSY
            if st.next_attempt_at is not None and st.next_attempt_at > self.now:
                return self.wake(st.next_attempt_at)
            self.start.append(Start(step_id=step.id, attempt=st.attempt + 1))
            return _BUSY
        if st.status == "waiting_approval":
            return self.waiting(step, st)
        if st.status == "running":
            if step.timeout is not None and st.started_at is not None:
                deadline = st.started_at + timedelta(seconds=step.timeout)
                if deadline <= self.now:
                    self.timeouts.append(step.id)
                    return _BUSY
                return self.wake(deadline)
            return _BUSY
        # failed or timed_out (a recorded denial or abort may also arrive as failed)
        if st.approval == "aborted":
            return _FAILED
        if not stopping and st.retryable and st.approval != "denied" and st.attempt < step.retry.attempts:
            at = (st.finished_at or self.now) + timedelta(seconds=step.retry.delay(st.attempt))
            self.retries.append(ScheduleRetry(step_id=step.id, attempt=st.attempt + 1, at=at))
            return _BUSY
        return _FAILED if stopping else self.failure(step)

    def waiting(self, step: Step, st: StepState) -> str:
        if st.approval == "approved":
            self.start.append(Start(step_id=step.id, attempt=st.attempt + 1))
            return _BUSY
        if st.approval == "denied":
            return self.failure(step)
        if st.approval == "aborted":
            return _FAILED
        if step.approval is None or st.approval_requested_at is None:
            return _BUSY
        deadline = st.approval_requested_at + timedelta(seconds=step.approval.timeout)
        if deadline > self.now:
            return self.wake(deadline)
        decision: ApprovalDecision = {"approve": "approved", "deny": "denied", "abort": "aborted"}[
            step.approval.on_timeout
        ]  # type: ignore[assignment]
        self.approval_timeouts.append(ApprovalTimeout(step_id=step.id, decision=decision))
        return _BUSY

    def failure(self, step: Step) -> str:
        policy = step.on_failure
        if policy == "continue":
            return _OK
        if not isinstance(policy, RunHandlers) or step.id in self.chain:
            return _FAILED
        by_id = {h.id: h for h in self.playbook.handlers}
        outer, self.chain = self.chain, (*self.chain, step.id)
        try:
            outcome = self.sequence([by_id[h] for h in policy.run if h in by_id], handler=True)
        finally:
            self.chain = outer
        if outcome == _BUSY:
            return _BUSY
        return _OK if outcome == _OK and policy.then == "continue" else _FAILED


def _never_ran(state: StepState) -> bool:
    waiting = state.status == "waiting_approval" and state.approval is None
    return state.status == "pending" or waiting


def next_actions(playbook: Playbook, states: Mapping[str, StepState], now: datetime) -> Plan:
    """What to do now for a run of ``playbook`` whose steps are in ``states``."""
    walk = _Walk(playbook, states, now)
    outcome = walk.sequence(playbook.steps)
    if outcome == _BUSY:
        return Plan(
            status="running",
            due=tuple(dict.fromkeys(walk.due)),
            start=tuple(walk.start),
            retries=tuple(walk.retries),
            timeouts=tuple(walk.timeouts),
            approval_timeouts=tuple(walk.approval_timeouts),
            cancel=tuple(dict.fromkeys(walk.cancel)),
            handlers=tuple(dict.fromkeys(h for h in walk.handlers if h in walk.due)),
            wake_at=min(walk.wakes) if walk.wakes else None,
        )
    never_ran = tuple(s.id for s in playbook.iter_steps() if _never_ran(walk.state(s.id)))
    return Plan(status="succeeded" if outcome == _OK else "failed", cancel=never_ran)


def decide_step(step: Step, ctx: Mapping[str, Any]) -> StepDecision:
    """For a due step: ``skip`` when its ``when`` is false, else ask approval or run.

    Raises TemplateFailed when the condition cannot be evaluated (mark the step failed,
    not retryable).
    """
    if step.when is not None:
        try:
            if not templates.evaluate_condition(step.when, ctx):
                return "skip"
        except templates.TemplateFailed as exc:
            raise templates.TemplateFailed(f"step {step.id!r} when: {exc}") from exc
    return "request_approval" if step.approval is not None else "run"


def cancellable(states: Mapping[str, StepState]) -> list[str]:
    """Steps a run cancel must mark cancelled (everything not finished)."""
    return [step_id for step_id, st in states.items() if st.status not in FINAL]


def rerun_states(playbook: Playbook, states: Mapping[str, StepState], step_id: str) -> dict[str, StepState]:
    """New states to write to rerun a failed ``step_id``: it and every step cancelled
    because of the failure become pending again. ValueError if the step did not fail."""
    current = states.get(step_id) or StepState()
    if current.status not in ("failed", "timed_out", "cancelled"):
        raise ValueError(f"step {step_id!r} is {current.status}; only a failed step reruns")
    playbook.step(step_id)
    reset = {step_id: StepState()}
    for step in playbook.iter_steps():
        st = states.get(step.id)
        if st is not None and st.status == "cancelled":
            reset[step.id] = StepState()
    return reset
