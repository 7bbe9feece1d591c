"""note, log and wait, and the registry that names them."""

from __future__ import annotations

import dataclasses

import pytest
import structlog

from orchestrator.actions import ActionContext, ActionRegistry, default_registry, execute
from orchestrator.actions.log import LogAction
from orchestrator.actions.note import NoteAction
from orchestrator.actions.wait import WaitAction
from orchestrator.errors import ActionError, NotFound
from tests.actions.fakes import FakeTimeline


def test_note_appends_a_redacted_timeline_entry_with_the_idempotency_key(
    ctx: ActionContext, timeline: FakeTimeline
) -> None:
    output = execute(NoteAction(), ctx, {"message": "leaked act.abcdefghijklmnop", "data": {"n": 1}})
    assert output == {"message": "leaked [REDACTED]"}
    assert timeline.entries == [
        (
            "note",
            "leaked [REDACTED]",
            {"n": 1, "idempotency_key": "run-1:step-1:1", "step_id": "step-1"},
            "playbook:t",
        )
    ]


def test_log_writes_one_structlog_line(ctx: ActionContext) -> None:
    with structlog.testing.capture_logs() as logs:
        output = execute(
            LogAction(), ctx, {"message": "hello", "level": "warning", "fields": {"password": "pw1234567"}}
        )
    assert output == {"message": "hello", "level": "warning"}
    assert logs == [
        {
            "event": "hello",
            "log_level": "warning",
            "run_id": "run-1",
            "step_id": "step-1",
            "incident_id": "inc-1",
            "dry_run": False,
            "field_password": "[REDACTED]",
        }
    ]


def test_wait_sleeps_and_stops_when_cancelled(ctx: ActionContext) -> None:
    output = execute(WaitAction(), ctx, {"seconds": 0.05})
    assert isinstance(output, dict) and output["waited"] >= 0.05
    cancelled = dataclasses.replace(ctx, cancelled=lambda: True)
    with pytest.raises(ActionError, match="wait cancelled") as caught:
        execute(WaitAction(), cancelled, {"seconds": 5})
    assert caught.value.retryable is False


def test_wait_is_capped(ctx: ActionContext) -> None:
    with pytest.raises(ActionError, match="less than or equal to 900"):
        execute(WaitAction(), ctx, {"seconds": 901})


def test_default_registry_names_every_shipped_action() -> None:
    registry = default_registry()
    assert {
        "http.post",
        "log",
        "note",
        "wait",
        "tiktok.kill_switch",
        "tiktok.revoke_tokens",
        "tiktok.purge",
    } <= set(registry.names())
    assert registry.get("note").name == "note"
    with pytest.raises(NotFound, match=r"unknown action 'nte' \(did you mean note\?\)"):
        registry.get("nte")


def test_registering_a_name_twice_is_refused() -> None:
    registry = ActionRegistry([NoteAction()])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(NoteAction())
