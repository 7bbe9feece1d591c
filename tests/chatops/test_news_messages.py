"""What the room reads when a step waits for approval: who may decide, and what its deadline does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.chatops import news_messages
from orchestrator.chatops.cards import PendingApproval

ASKED = datetime(2026, 12, 7, 14, 2, tzinfo=UTC)
PENDING = PendingApproval(run_id="run-1a2b3c4d5e6f", step_id="disconnect", playbook="tiktok-suspicion")


@pytest.mark.parametrize(
    ("on_timeout", "then"),
    [("approve", "it approves itself"), ("deny", "it is denied"), ("abort", "the run stops")],
)
def test_the_ask_says_what_the_deadline_does_and_names_people_and_groups(on_timeout: str, then: str) -> None:
    text, blocks = news_messages.approval_asked(
        PENDING,
        approvers=["U024BE7LH", "SONCALL", "oncall-leads", "any"],
        asked_at=ASKED,
        deadline=ASKED + timedelta(minutes=30),
        on_timeout=on_timeout,
    )
    assert text == (
        "⏳ Step `disconnect` of *tiktok-suspicion* (`run-1a2b3c4d5e6f`) waits for approval by "
        f"<@U024BE7LH>, <!subteam^SONCALL>, oncall-leads, anyone: {then} at 14:32 UTC (in 30 min) "
        "unless someone decides."
    )
    assert blocks is not None
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["ir_approve", "ir_deny"]
