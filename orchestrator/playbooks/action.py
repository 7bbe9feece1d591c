"""The Action seam the engine defines: what a step's action receives (ActionContext), must provide
(Action, TransactionalAction), and the registry that finds one by name (ActionRegistry).

The engine (``playbooks/``) owns this contract; the shipped actions (``actions/``) implement it
above the domain, and ``actions/registry.default_registry`` lists them.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from orchestrator.errors import ActionError, NotFound
from orchestrator.ports import Ports

__all__ = [
    "Action",
    "ActionContext",
    "ActionParams",
    "ActionRegistry",
    "Awaiting",
    "TimelineWriter",
    "TransactionalAction",
    "execute",
    "execute_in",
    "parse_params",
]


class TimelineWriter(Protocol):
    """The port actions write incident timeline entries through."""

    def append(self, kind: str, message: str, data: dict[str, Any], actor: str) -> None: ...


def _never_cancelled() -> bool:
    return False


@dataclass(frozen=True)
class ActionContext:
    """Everything an action may know about the step it runs for; no clock, no store."""

    run_id: str
    step_id: str
    incident_id: str | None
    idempotency_key: str
    dry_run: bool
    actor: str
    timeline: TimelineWriter
    cancelled: Callable[[], bool] = _never_cancelled
    runtime: Ports | None = None
    """What the process built and hands down (settings, store, shared clients); None in a
    bare unit test of an action that needs none of it."""

    def ports(self, action: str) -> Ports:
        """``runtime``, or ActionError naming ``action`` when the caller handed none down."""
        if self.runtime is None:
            raise ActionError(f"{action} needs the worker runtime (run it from a playbook)")
        return self.runtime


@dataclass(frozen=True)
class Awaiting:
    """An action's answer that its step finishes later, by an event, not by this call.

    The step stays running with no worker holding it, as a step waiting for approval holds none:
    whatever it waits for (the batch that settles a revocation's last token) records the
    step's outcome and advances the run. A worker that waited instead would hold a thread the
    awaited work may need.
    """

    on: str  # what the step waits for, for the log ("revocation rev-...")


class ActionParams(BaseModel):
    """Base of every action's params model: frozen, unknown params refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Action(ABC):
    """A named, idempotent unit of work; the same ``idempotency_key`` must not act twice."""

    name: ClassVar[str]
    params: ClassVar[type[BaseModel]]
    has_effects: ClassVar[bool] = True

    @abstractmethod
    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any] | Awaiting:
        """Do the work; return a JSON-serialisable output (or ``Awaiting``: the step finishes
        later by an event); raise ActionError on failure."""


class TransactionalAction(Action):
    """An action whose whole effect is rows in the orchestrator's own store, so the engine pass
    that starts its step can do it in that same transaction (``playbooks/inline.py``): no
    broker hop, no claim and no second commit. The kill switch is one: every millisecond from
    awareness to disconnect counts.
    """

    @abstractmethod
    def run_in(self, session: Session, ctx: ActionContext, params: Any) -> dict[str, Any]:
        """Do the work with ``session``; raise before writing anything, since a failure leaves
        the caller's transaction to commit the step's failure."""


def parse_params(action: Action, raw: Mapping[str, Any]) -> BaseModel:
    """``raw`` (rendered) params validated by the action's model; ActionError if invalid."""
    try:
        return action.params.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise ActionError(f"action {action.name!r}: invalid params: {problems}") from None


def execute(action: Action, ctx: ActionContext, raw: Mapping[str, Any]) -> dict[str, Any] | Awaiting:
    """Validate ``raw`` (rendered) params and run ``action``; in a dry run an action with effects
    is not called and the output says what would have happened."""
    params = parse_params(action, raw)
    if ctx.dry_run and action.has_effects:
        return _dry_output(action)
    return action.run(ctx, params)


def execute_in(
    session: Session, action: Action, ctx: ActionContext, raw: Mapping[str, Any]
) -> dict[str, Any]:
    """``execute`` inside the caller's transaction, for a ``TransactionalAction`` only."""
    if not isinstance(action, TransactionalAction):
        raise ActionError(f"action {action.name!r} cannot run inside the caller's transaction")
    params = parse_params(action, raw)
    if ctx.dry_run and action.has_effects:
        return _dry_output(action)
    return action.run_in(session, ctx, params)


def _dry_output(action: Action) -> dict[str, Any]:
    return {"dry_run": True, "action": action.name, "would_run": True}


class ActionRegistry:
    """Maps action names (``note``, ``http.post``, ``tiktok.revoke``...) to action instances."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        """Add ``action`` under its ``name``; a second action with the same name is a bug."""
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is already registered")
        self._actions[action.name] = action

    def get(self, name: str) -> Action:
        """The action called ``name``; NotFound names the closest known actions."""
        try:
            return self._actions[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._actions), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise NotFound(f"unknown action {name!r}{hint}") from None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions
