"""docs/operations.md stays true: its metrics exist, its commands parse, its settings are real."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.metrics import scrape
from orchestrator.worker.runtime import Runtime
from tests.deploy.test_compose import resolve, setting_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_metric_the_doc_names_is_exposed(runtime: Runtime) -> None:
    exposed = set(re.findall(r"^# TYPE (\S+) ", scrape(runtime).decode(), re.MULTILINE))
    exposed |= {f"{name}_total" for name in exposed}
    named = set(re.findall(r"`(orchestrator_[a-z_]+)", DOC.read_text(encoding="utf-8")))
    assert named and named <= exposed, sorted(named - exposed)


def test_every_command_the_doc_shows_parses() -> None:
    text = DOC.read_text(encoding="utf-8")
    commands = re.findall(r"`orchestrator ((?:[a-z]+ ?)+(?:--[a-z-]+ [a-z0-9.,]+ ?)*)`", text)
    assert len(commands) >= 6
    for command in commands:
        resolve(command.split())


def test_every_variable_the_doc_names_is_a_setting() -> None:
    variables = set(re.findall(r"\b(ORCH_[A-Z0-9_]+)\b", DOC.read_text(encoding="utf-8")))
    for variable in variables - {"ORCH_SLACK_", "ORCH_"}:
        if not variable.endswith("_"):
            setting_for(variable)
