"""The worked example in docs/playbooks.md loads, fits the schema, and dry-runs cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from orchestrator.actions.dry_run import dry_run_plan
from orchestrator.actions.registry import default_registry
from orchestrator.playbooks import build_context, parse_playbook
from orchestrator.playbooks.json_schema import validation_errors

GUIDE = Path(__file__).parents[2] / "docs" / "playbooks.md"

REGISTRY = default_registry()


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)


def test_the_guides_worked_example_is_a_valid_playbook() -> None:
    example = _yaml_blocks()[0]
    playbook = parse_playbook(example, "docs/playbooks.md", registry=REGISTRY)
    assert playbook.name == "token-leak"
    assert validation_errors(yaml.safe_load(example)) == []
    ctx = build_context(
        event={
            "kind": "token.leak",
            "source": "splunk",
            "severity": "critical",
            "entities": {"open_ids": ["o1", "o2"]},
        },
        incident={"id": "inc-1"},
        run={"id": "run-1", "dry_run": True},
    )
    plan = {entry["step"]: entry for entry in dry_run_plan(playbook, ctx)}
    assert plan["announce"]["params"] == {
        "message": "token.leak seen by splunk: 2 TikTok users affected",
        "data": {"open_ids": ["o1", "o2"]},
    }
    assert plan["hold"]["would_skip"] is False
    assert [e for e in plan.values() if e["error"]] == [plan["summary"]]


def test_the_guides_inputs_snippet_is_valid() -> None:
    inputs = _yaml_blocks()[1]
    text = inputs + "steps:\n  - id: a\n    action: note\n    with: {message: '{{ inputs.reason }}'}\n"
    playbook = parse_playbook("name: manual\n" + text, registry=REGISTRY)
    assert set(playbook.inputs) == {"reason", "batch", "notify", "scope", "open_ids"}
