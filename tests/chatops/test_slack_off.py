"""Without a bot token Slack is off: its actions record that and succeed without effect."""

from __future__ import annotations

from orchestrator.actions import ActionContext
from orchestrator.actions.registry import default_registry
from orchestrator.chatops import card_sync
from orchestrator.worker.runtime import Runtime
from tests.actions.fakes import FakeTimeline


def test_slack_actions_record_not_configured_and_succeed(runtime: Runtime) -> None:
    timeline = FakeTimeline()
    ctx = ActionContext(
        run_id="run-1",
        step_id="room",
        incident_id="inc-1",
        idempotency_key="run-1:room",
        dry_run=False,
        actor="playbook:t",
        timeline=timeline,
        runtime=runtime,
    )
    registry = default_registry()
    opened = registry.get("slack.open_channel")
    posted = registry.get("slack.post")
    assert opened.run(ctx, opened.params.model_validate({})) == {"skipped": "Slack not configured"}
    assert posted.run(ctx, posted.params.model_validate({"text": "hi"})) == {
        "skipped": "Slack not configured"
    }
    assert [(kind, message) for kind, message, _, _ in timeline.entries] == [
        ("slack.skipped", "slack.open_channel: Slack not configured"),
        ("slack.skipped", "slack.post: Slack not configured"),
    ]
    assert card_sync.refresh_card(runtime, "inc-1") is False
