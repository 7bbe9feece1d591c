"""Issue 29, item 7, against a running `orchestrator up`: the room news travels from the run's
worker through the outbox to the room (Slack is the stand-in, commands are signed requests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chatops.slack_driver import SlackDriver
from tests.chatops.up_env import slack_up_env
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET
from tests.support.processes import Proc, free_port, wait_for, wait_healthy
from tests.support.receiver import receiver
from tests.support.runtime import API_TOKEN
from tests.support.slack_standin import SlackStandIn, slack_standin

pytestmark = pytest.mark.slow

ROOM = """
name: room
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel}
"""


def _said(slack: SlackStandIn, channel: str, needle: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((m for m in slack.messages[channel].values() if needle in str(m["text"])), None)

    return wait_for(found, timeout=30, what=f"{needle!r} in the room")


def test_a_failed_run_and_a_note_typed_elsewhere_reach_the_room_of_a_running_up(tmp_path: Path) -> None:
    api_port = free_port()
    books = tmp_path / "books"
    books.mkdir()
    (books / "room.yaml").write_text(ROOM)
    with slack_standin(BOT_TOKEN) as slack, receiver() as replies:
        env = slack_up_env(
            tmp_path / "data",
            port=api_port,
            books=books,
            slack_url=slack.url,
            slack_admins=json.dumps(["UALICE"]),
            slack_playbooks_allowed=json.dumps(["room", "revoke-tokens"]),
        )
        proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
        try:
            base = f"http://127.0.0.1:{api_port}"
            wait_healthy(base, timeout=90)
            slack_user = SlackDriver(base, SIGNING_SECRET, replies)
            assert "declared" in slack_user.ir("UALICE", "declare Tokens leaked in a build log low")["text"]
            api = {"Authorization": f"Bearer {API_TOKEN}"}

            def declared() -> str | None:
                found = httpx.get(f"{base}/v1/incidents", headers=api, timeout=5).json()["incidents"]
                return str(found[0]["id"]) if found else None

            incident = wait_for(declared, timeout=30, what="the declared incident")
            slack_user.ir("UALICE", f"run room incident={incident}")
            room = wait_for(  # named after the title; its topic names the incident
                lambda: next(
                    (c["id"] for c in slack.channels.values() if incident in c.get("topic", "")), None
                ),
                timeout=30,
                what="the room",
            )
            started = slack_user.ir("UALICE", "run revoke-tokens scope=bogus", channel=room)["text"]
            run = started.split("`")[1]
            failed = _said(slack, room, f"❌ Playbook *revoke-tokens* (`{run}`")
            assert "failed: step `revoke`: scope 'bogus' not understood" in failed["text"]
            slack_user.ir("UALICE", f"note {incident} Legal informed")  # typed in #general
            noted = _said(slack, room, "Legal informed")["text"]
            assert noted == f"📝 Noted on `{incident}` by <@UALICE>: Legal informed"
        finally:
            proc.stop()
