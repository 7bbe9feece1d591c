"""Actions a playbook step can run, behind one interface and one registry."""

from __future__ import annotations

from orchestrator.actions.base import (
    Action,
    ActionContext,
    ActionParams,
    TimelineWriter,
    execute,
    parse_params,
)
from orchestrator.actions.registry import ActionRegistry, default_registry

__all__ = [
    "Action",
    "ActionContext",
    "ActionParams",
    "ActionRegistry",
    "TimelineWriter",
    "default_registry",
    "execute",
    "parse_params",
]
