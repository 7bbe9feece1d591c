"""The Action seam: what a step's action receives (ActionContext) and must provide (Action)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.errors import ActionError

__all__ = [
    "Action",
    "ActionContext",
    "ActionParams",
    "TimelineWriter",
    "execute",
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
    settings: object | None = None
    cancelled: Callable[[], bool] = _never_cancelled
    runtime: object | None = None  # the worker's Runtime (store, settings) for actions that need it


class ActionParams(BaseModel):
    """Base of every action's params model: frozen, unknown params refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Action(ABC):
    """A named, idempotent unit of work; the same ``idempotency_key`` must not act twice."""

    name: ClassVar[str]
    params: ClassVar[type[BaseModel]]
    has_effects: ClassVar[bool] = True

    @abstractmethod
    def run(self, ctx: ActionContext, params: Any) -> dict[str, Any]:
        """Do the work; return a JSON-serialisable output; raise ActionError on failure."""


def parse_params(action: Action, raw: Mapping[str, Any]) -> BaseModel:
    """``raw`` (rendered) params validated by the action's model; ActionError if invalid."""
    try:
        return action.params.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise ActionError(f"action {action.name!r}: invalid params: {problems}") from None


def execute(action: Action, ctx: ActionContext, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``raw`` params and run ``action``; in a dry run an action with effects is not
    called and the output says what would have happened."""
    params = parse_params(action, raw)
    if ctx.dry_run and action.has_effects:
        return {"dry_run": True, "action": action.name, "would_run": True}
    return action.run(ctx, params)
