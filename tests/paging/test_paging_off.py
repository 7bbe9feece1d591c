"""Paging is off until a key is set: the shipped step sends nothing and succeeds, the settings say
so in `config check`, and a set key is masked by `config show` and redacted everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import redaction
from orchestrator.actions import ActionContext
from orchestrator.actions.registry import default_registry
from orchestrator.config import load_settings, masked_dump
from orchestrator.errors import ConfigError
from orchestrator.preflight import check_parts
from orchestrator.worker.runtime import Runtime
from tests.actions.fakes import FakeTimeline


def test_the_page_step_sends_nothing_and_succeeds_when_unconfigured(runtime: Runtime) -> None:
    timeline = FakeTimeline()
    ctx = ActionContext(
        run_id="run-1",
        step_id="page",
        incident_id="inc-1",
        idempotency_key="run-1:page",
        dry_run=False,
        actor="playbook:t",
        timeline=timeline,
        runtime=runtime,
    )
    action = default_registry().get("page.oncall")
    assert action.run(ctx, action.params.model_validate({})) == {"skipped": "paging not configured"}
    assert timeline.entries == []


def test_config_check_says_paging_is_off_or_where_it_pages(settings: object, tmp_path: Path) -> None:
    [off] = [
        part for part in check_parts(load_settings(overrides={"data_dir": tmp_path})) if part.part == "paging"
    ]
    assert (off.status, off.detail) == (
        "off",
        "paging is off: set paging.pagerduty_routing_key (ORCH_PAGING__PAGERDUTY_ROUTING_KEY) "
        "or paging.opsgenie_api_key (ORCH_PAGING__OPSGENIE_API_KEY)",
    )
    on = load_settings(
        overrides={
            "data_dir": tmp_path,
            "paging": {"opsgenie_api_key": "0b7e2c4d-check-4f6a", "slack_mention": "here"},
        }
    )
    [row] = [part for part in check_parts(on) if part.part == "paging"]
    assert (row.status, row.detail) == ("ok", "Opsgenie at https://api.opsgenie.com; the room mentions @here")


def test_paging_keys_are_masked_and_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCH_PAGING__PAGERDUTY_ROUTING_KEY", "planted-routing-key-5e3f4a9b")
    monkeypatch.setenv("ORCH_PAGING__OPSGENIE_API_KEY", "planted-genie-key-7c1e5f2a")
    settings = load_settings(overrides={"data_dir": tmp_path})
    shown = masked_dump(settings)["paging"]
    assert (shown["pagerduty_routing_key"], shown["opsgenie_api_key"]) == ("********", "********")
    said = redaction.redact_text("keys planted-routing-key-5e3f4a9b and planted-genie-key-7c1e5f2a")
    assert "planted" not in said


def test_a_mention_slack_cannot_read_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORCH_PAGING__SLACK_MENTION", "@oncall")
    with pytest.raises(ConfigError, match=r"paging\.slack_mention \(ORCH_PAGING__SLACK_MENTION\)"):
        load_settings(overrides={"data_dir": tmp_path})
