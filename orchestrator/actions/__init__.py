"""Actions a playbook step can run, behind the interface and registry the engine defines
(``playbooks/action.py``)."""

from __future__ import annotations

from orchestrator.actions.registry import default_registry
from orchestrator.playbooks.action import (
    Action,
    ActionContext,
    ActionParams,
    ActionRegistry,
    TimelineWriter,
    execute,
    parse_params,
)

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
