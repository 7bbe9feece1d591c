"""dry_run_plan: every template and condition resolved, no action called."""

from __future__ import annotations

from pathlib import Path

from orchestrator.actions.dry_run import dry_run_plan
from orchestrator.actions.registry import default_registry
from orchestrator.playbooks import load_playbook

VALID = Path(__file__).parent / "valid"

REGISTRY = default_registry()


def test_dry_run_plan_resolves_templates_and_conditions_in_order() -> None:
    playbook = load_playbook(VALID / "token_leak.yaml", registry=REGISTRY)
    ctx = {
        "event": {"kind": "token.leak", "severity": "high", "entities": {"open_ids": ["o1"]}},
        "incident": {"id": "inc-1"},
        "inputs": {},
        "steps": {},
        "run": {"id": "run-1", "dry_run": True},
    }
    common = {"parallel": None, "handler": False, "approval": None, "error": None}
    assert dry_run_plan(playbook, ctx) == [
        {
            **common,
            "step": "announce",
            "action": "note",
            "would_skip": False,
            "params": {"message": "Leak token.leak for 1 users"},
            "has_effects": False,
        },
        {
            **common,
            "step": "hook",
            "action": "http.post",
            "parallel": "notify",
            "would_skip": False,
            "has_effects": True,
            "params": {"url": "https://hooks.example.com/ir", "json": {"incident": "inc-1", "ids": ["o1"]}},
        },
        {
            **common,
            "step": "log_it",
            "action": "log",
            "parallel": "notify",
            "would_skip": False,
            "params": {"message": "notified", "level": "warning"},
            "has_effects": False,
        },
        {
            **common,
            "step": "pause",
            "action": "wait",
            "would_skip": True,
            "params": {"seconds": 1},
            "has_effects": False,
            "approval": {"approvers": ["U123"], "timeout": 900.0, "on_timeout": "abort"},
        },
        {
            **common,
            "step": "done",
            "action": "note",
            "would_skip": False,
            "params": None,
            "has_effects": False,
            "error": "step 'done' param 'message': template failed: 'dict object' has no attribute 'hook'",
        },
        {
            **common,
            "step": "tell_humans",
            "action": "log",
            "handler": True,
            "would_skip": False,
            "params": {"message": "webhook failed for run run-1", "level": "error"},
            "has_effects": False,
        },
    ]


def test_dry_run_plan_uses_outputs_the_caller_already_has() -> None:
    playbook = load_playbook(VALID / "token_leak.yaml", registry=REGISTRY)
    ctx = {
        "event": {"kind": "k", "severity": "critical", "entities": {"open_ids": []}},
        "incident": {"id": "i"},
        "inputs": {},
        "run": {"id": "r"},
        "steps": {"hook": {"status": "succeeded", "output": {"status_code": 202}}},
    }
    done = dry_run_plan(playbook, ctx)[4]
    assert (done["step"], done["params"], done["error"]) == ("done", {"message": "hook said 202"}, None)
