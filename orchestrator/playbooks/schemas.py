"""Playbook, Step, Approval and friends: the frozen snapshot of a playbook that a run stores."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from orchestrator.durations import parse_duration
from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.playbooks.people import is_named

__all__ = [
    "NAME_PATTERN",
    "STEP_ID_PATTERN",
    "Approval",
    "EntityKind",
    "InputSpec",
    "ManualTrigger",
    "MatchTrigger",
    "OnFailure",
    "ParallelBlock",
    "ParallelGroup",
    "Playbook",
    "RunHandlers",
    "Step",
    "StepRetry",
    "Trigger",
    "Unit",
]

STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"

EntityKind = Literal["hosts", "ips", "users", "open_ids", "client_keys"]


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class StepRetry(_Frozen):
    """How often to try a step: ``attempts`` in total, exponential backoff capped."""

    attempts: int = Field(default=1, ge=1, le=50)
    backoff: Duration = Field(default=5.0, le=86400)
    max_backoff: Duration = Field(default=300.0, le=86400)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.backoff * (2 ** max(attempt - 1, 0)), self.max_backoff))


class Approval(_Frozen):
    """Who must approve a step before its action runs, and what a timeout means."""

    approvers: tuple[str, ...] = Field(default=("any",), min_length=1)
    timeout: Duration = 3600.0
    on_timeout: Literal["deny", "approve", "abort"] = "deny"

    def allows(self, actor: str, groups: frozenset[str] = frozenset()) -> bool:
        """True when ``actor`` (or one of its ``groups``) is among the approvers."""
        return is_named(actor, self.approvers, groups)


class RunHandlers(_Frozen):
    """``on_failure: {run: [...]}``: run these handlers in order, then abort (or continue)."""

    run: tuple[str, ...] = Field(min_length=1)
    then: Literal["abort", "continue"] = "abort"


OnFailure = Literal["abort", "continue"] | RunHandlers


class Step(_Frozen):
    """One action with its parameters and the rules for when and how it runs."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    action: str = Field(min_length=1)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    description: str = ""
    when: Annotated[str | None, BeforeValidator(_to_str)] = None
    retry: StepRetry = Field(default_factory=StepRetry)
    timeout: Duration | None = None
    on_failure: OnFailure = "abort"
    approval: Approval | None = None


class ParallelGroup(_Frozen):
    """The body of a ``parallel:`` block: its id and the steps that run at once."""

    id: str = Field(pattern=STEP_ID_PATTERN)
    description: str = ""
    steps: tuple[Step, ...] = Field(min_length=1)


class ParallelBlock(_Frozen):
    """A ``- parallel: {id, steps}`` item: its steps start together and the block joins."""

    parallel: ParallelGroup

    @property
    def id(self) -> str:
        return self.parallel.id

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.parallel.steps


def _unit_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "parallel" if "parallel" in value else "step"
    return "parallel" if isinstance(value, ParallelBlock) else "step"


Unit = Annotated[
    Annotated[Step, Tag("step")] | Annotated[ParallelBlock, Tag("parallel")],
    Discriminator(_unit_tag),
]


class InputSpec(_Frozen):
    """A typed input of a manual playbook."""

    type: Literal["string", "int", "bool", "choice", "list"] = "string"
    description: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError("an input of type 'choice' needs a non-empty 'choices' list")
        if self.type != "choice" and self.choices is not None:
            raise ValueError("'choices' only applies to inputs of type 'choice'")
        if self.default is not None:
            self.coerce(self.default)
        return self

    def coerce(self, value: Any) -> Any:
        """``value`` converted to this input's type (CLI strings included); ValueError if not."""
        if self.type == "string":
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return str(value)
        elif self.type == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                return int(value)
        elif self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"true", "yes", "1", "on"}:
                return True
            if text in {"false", "no", "0", "off"}:
                return False
        elif self.type == "choice":
            if isinstance(value, str) and self.choices and value in self.choices:
                return value
            raise ValueError(f"{value!r} is not one of {', '.join(self.choices or ())}")
        elif isinstance(value, list | tuple):
            return [str(v) if not isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        raise ValueError(f"{value!r} is not a valid {self.type}")


class MatchTrigger(_Frozen):
    """Which events start the playbook; every given criterion must hold."""

    kinds: tuple[str, ...] = ()
    min_severity: Severity | None = None
    max_severity: Severity | None = None
    sources: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    entities: tuple[EntityKind, ...] = ()

    def matches(self, event: CompromiseEvent) -> bool:
        """True when ``event`` meets kinds (globs), severity, sources, labels and entities."""
        if self.kinds and not any(fnmatch.fnmatchcase(event.kind, k) for k in self.kinds):
            return False
        if self.min_severity is not None and not event.severity.at_least(self.min_severity):
            return False
        if self.max_severity is not None and not self.max_severity.at_least(event.severity):
            return False
        if self.sources and not any(fnmatch.fnmatchcase(event.source, s) for s in self.sources):
            return False
        if any(event.labels.get(key) != value for key, value in self.labels.items()):
            return False
        return all(getattr(event.entities, kind) for kind in self.entities)


class ManualTrigger(_Frozen):
    """A playbook a person starts, with typed inputs."""

    inputs: dict[str, InputSpec] = Field(default_factory=dict)


class Trigger(_Frozen):
    """Exactly one of ``match`` or ``manual``."""

    match: MatchTrigger | None = None
    manual: ManualTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        if (self.match is None) == (self.manual is None):
            raise ValueError("a trigger needs exactly one of 'match' or 'manual'")
        return self


class Playbook(_Frozen):
    """A parsed, validated playbook; JSON round-trips and hashes to a stable content hash."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    version: Annotated[str, BeforeValidator(_to_str)] = "1"
    trigger: Trigger
    steps: tuple[Unit, ...] = Field(min_length=1)
    handlers: tuple[Step, ...] = ()

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON form: equal for equal playbooks, wherever stored."""
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def iter_steps(self) -> Iterator[Step]:
        """Every step: the main sequence (parallel children included), then the handlers."""
        for unit in self.steps:
            if isinstance(unit, ParallelBlock):
                yield from unit.steps
            else:
                yield unit
        yield from self.handlers

    def step(self, step_id: str) -> Step:
        """The step (or handler) named ``step_id``; KeyError if there is none."""
        for step in self.iter_steps():
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def matches(self, event: CompromiseEvent) -> bool:
        """True when this playbook's ``match`` trigger accepts ``event`` (never for manual)."""
        return self.trigger.match is not None and self.trigger.match.matches(event)

    @property
    def inputs(self) -> dict[str, InputSpec]:
        return self.trigger.manual.inputs if self.trigger.manual else {}

    def resolve_inputs(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs typed and defaulted; ValidationFailed names an unknown, missing or bad one."""
        specs = self.inputs
        for name in given:
            if name not in specs:
                known = ", ".join(sorted(specs)) or "none"
                raise ValidationFailed(f"unknown input {name!r} (inputs: {known})", field=name)
        resolved: dict[str, Any] = {}
        for name, spec in specs.items():
            if name in given:
                try:
                    resolved[name] = spec.coerce(given[name])
                except ValueError as exc:
                    raise ValidationFailed(f"input {name!r}: {exc}", field=name) from exc
            elif spec.default is not None:
                resolved[name] = spec.coerce(spec.default)
            elif spec.required:
                raise ValidationFailed(f"input {name!r} is required", field=name)
            else:
                resolved[name] = None
        return resolved
