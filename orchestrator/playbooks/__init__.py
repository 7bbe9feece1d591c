"""Playbooks: the YAML format, its loader, sandboxed templates and the pure run engine."""

from __future__ import annotations

from orchestrator.playbooks.engine import (
    ApprovalTimeout,
    Plan,
    ScheduleRetry,
    Start,
    StepState,
    cancellable,
    decide_step,
    next_actions,
    rerun_states,
)
from orchestrator.playbooks.json_schema import playbook_json_schema
from orchestrator.playbooks.loader import load_playbook, load_playbooks, parse_playbook
from orchestrator.playbooks.schemas import (
    Approval,
    InputSpec,
    ParallelBlock,
    Playbook,
    RunHandlers,
    Step,
    StepRetry,
)
from orchestrator.playbooks.templates import (
    TemplateFailed,
    build_context,
    check_template,
    evaluate_condition,
    render,
    render_params,
)

__all__ = [
    "Approval",
    "ApprovalTimeout",
    "InputSpec",
    "ParallelBlock",
    "Plan",
    "Playbook",
    "RunHandlers",
    "ScheduleRetry",
    "Start",
    "Step",
    "StepRetry",
    "StepState",
    "TemplateFailed",
    "build_context",
    "cancellable",
    "check_template",
    "decide_step",
    "evaluate_condition",
    "load_playbook",
    "load_playbooks",
    "next_actions",
    "parse_playbook",
    "playbook_json_schema",
    "render",
    "render_params",
    "rerun_states",
]
