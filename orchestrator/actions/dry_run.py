"""A playbook's dry run: what every step would do, in order, with each action's ``has_effects``.

It sits with the actions, not in the pure engine (``playbooks/engine.py``), because it asks the
action registry, and the engine must not import what the actions import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.actions.registry import default_registry
from orchestrator.playbooks import templates
from orchestrator.playbooks.action import ActionRegistry
from orchestrator.playbooks.engine import decide_step
from orchestrator.playbooks.schemas import ParallelBlock, Playbook, Step

__all__ = ["dry_run_plan"]


def _dry_step(step: Step, ctx: Mapping[str, Any], registry: ActionRegistry, **where: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "step": step.id,
        "action": step.action,
        **where,
        "would_skip": None,
        "params": None,
        "approval": step.approval.model_dump(mode="json") if step.approval else None,
        "has_effects": None,
        "error": None,
    }
    if step.action in registry:
        entry["has_effects"] = registry.get(step.action).has_effects
    try:
        entry["would_skip"] = decide_step(step, ctx) == "skip"
        entry["params"] = templates.render_params(step.with_, ctx, step_id=step.id)
    except templates.TemplateFailed as exc:
        entry["error"] = str(exc)
    return entry


def dry_run_plan(
    playbook: Playbook, ctx: Mapping[str, Any], *, registry: ActionRegistry | None = None
) -> list[dict[str, Any]]:
    """What every step would do, in order, handlers last, calling no action.

    Each entry: ``step``, ``action``, ``parallel`` (block id or None), ``handler``,
    ``would_skip``, rendered ``params``, ``approval``, ``has_effects`` (from ``registry``,
    the default registry when None) and ``error`` (a template that cannot be resolved yet, e.g. one reading
    ``steps.<id>.output`` that only exists once that step ran).
    """
    registry = default_registry() if registry is None else registry
    plan: list[dict[str, Any]] = []
    for unit in playbook.steps:
        if isinstance(unit, ParallelBlock):
            for step in unit.steps:
                plan.append(_dry_step(step, ctx, registry, parallel=unit.id, handler=False))
        else:
            plan.append(_dry_step(unit, ctx, registry, parallel=None, handler=False))
    for step in playbook.handlers:
        plan.append(_dry_step(step, ctx, registry, parallel=None, handler=True))
    return plan
