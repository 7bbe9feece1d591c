"""docs/operations.md stays true: its metrics exist, its commands parse, its settings are real."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from orchestrator.metrics import scrape
from orchestrator.worker.runtime import Runtime
from tests.deploy.test_compose import resolve, setting_for
from tests.docs.markdown import code_blocks

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


def test_every_alert_reads_exposed_metrics_and_has_a_runbook_paragraph(runtime: Runtime) -> None:
    exposed = set(re.findall(r"^# TYPE (\S+) ", scrape(runtime).decode(), re.MULTILINE))
    text = DOC.read_text(encoding="utf-8")
    [rules] = [b for b in code_blocks(DOC) if b.info == "yaml prometheus" and "groups:" in b.text]
    alerts = [rule for group in yaml.safe_load(rules.text)["groups"] for rule in group["rules"]]
    assert len(alerts) >= 10
    for alert in alerts:
        for metric in re.findall(r"\b(orchestrator_[a-z_]+)", alert["expr"]):
            family = re.sub(r"_(total|count|bucket|sum)$", "", metric)
            assert {metric, family} & exposed, f"{alert['alert']}: {metric} is not exposed"
        assert f"**{alert['alert']}**" in text, f"{alert['alert']} has no runbook paragraph"
