"""The pinned card follows a mass revocation while it runs, not only at its end: each progress
note (every 10 %) owes the incident a fresher card in the commit that writes it (`incident.changed`),
and a notifications worker sends it, so the thread revoking tokens never talks to Slack."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from orchestrator.incidents import news
from orchestrator.store.outbox import OutboxRow
from tests.support.engine import BOT_TOKEN
from tests.support.processes import wait_for
from tests.support.simulated import simulated
from tests.support.slack_standin import slack_standin

SECRET = "card-progress-client-secret-0123456789"
TOKENS = 60
PLAYBOOK = """
name: revoke-in-the-room
trigger: {manual: {}}
steps:
  - {id: room, action: slack.open_channel}
  - {id: revoke, action: tiktok.revoke_tokens, with: {scope: all}}
"""


def test_the_card_shows_the_revocation_progress_while_it_runs_and_its_end(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "revoke.yaml").write_text(PLAYBOOK)
    with (
        slack_standin(BOT_TOKEN) as slack,
        simulated(
            tmp_path,
            secret=SECRET,
            tokens=TOKENS,
            tiktok_revoke_rate=20,  # three seconds: several 10 % milestones, at most one a second
            playbook_dirs=[books],
            shipped_playbooks=False,
            slack_bot_token=BOT_TOKEN,
            slack_api_url=slack.url,
            slack_card_min_interval_seconds=0.2,
        ) as world,
    ):
        incident_id = world.fire_compromise()
        run = world.start("revoke-in-the-room", incident_id=incident_id)
        assert world.finished(run, timeout=60)["status"] == "succeeded"
        wait_for(
            lambda: any(
                f"finished: {TOKENS}/{TOKENS}" in str(a["blocks"]) for a in slack.answered("chat.update")
            ),
            timeout=15,
            what="the card to show the revocation finished",
        )
        with world.runtime.store.unit_of_work() as session:
            owed = session.scalar(select(func.count()).where(OutboxRow.topic == news.CHANGED))
    shown = [re.search(r"in progress: (\d+)/", str(a["blocks"])) for a in slack.answered("chat.update")]
    midway = sorted({int(m.group(1)) for m in shown if m is not None} - {0})
    assert midway and max(midway) < TOKENS, f"no card showed the revocation part way: {midway}"
    assert owed, "the progress reached the card some other way than the outbox"
    assert SECRET not in " ".join(slack.raw_bodies)
