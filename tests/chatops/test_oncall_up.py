"""Issue 29 against a running `orchestrator up` (Slack is the stand-in, every command and click a
signed request): a person invited to the room, not an admin, adds a note the room sees; a named
approver, not an admin, approves by button and the room hears the run succeed; a kill switch
engaged from one incident's room shows on the other incident's card."""

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

BOOKS = {
    "room.yaml": """
name: room
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel, with: {invite: [UDAVE]}}
""",
    "gate.yaml": """
name: gate
trigger: {manual: {}}
steps:
  - id: gate
    action: note
    with: {message: "gate passed"}
    approval: {approvers: [UCAROL], timeout: 1h, on_timeout: deny}
""",
}
ENGAGED = "🛑 ENGAGED (disconnected from TikTok)"


def _said(slack: SlackStandIn, channel: str, needle: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((m for m in slack.messages[channel].values() if needle in str(m["text"])), None)

    return wait_for(found, timeout=45, what=f"{needle!r} in the room")


def _card(slack: SlackStandIn, channel: str) -> str:
    return str(slack.messages[channel][slack.pins[channel][0]]["blocks"])


def test_people_in_the_room_act_and_every_card_follows_the_switch_on_a_running_up(tmp_path: Path) -> None:
    api_port = free_port()
    books = tmp_path / "books"
    books.mkdir()
    for name, text in BOOKS.items():
        (books / name).write_text(text)
    with slack_standin(BOT_TOKEN) as slack, receiver() as replies:
        env = slack_up_env(
            tmp_path / "data",
            port=api_port,
            books=books,
            slack_url=slack.url,
            slack_admins=json.dumps(["UALICE"]),
            slack_playbooks_allowed=json.dumps(["room", "gate"]),
        )
        proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
        try:
            base = f"http://127.0.0.1:{api_port}"
            wait_healthy(base)
            slack_user = SlackDriver(base, SIGNING_SECRET, replies)
            api = {"Authorization": f"Bearer {API_TOKEN}"}

            def open_room(title: str) -> tuple[str, str]:
                known = {
                    i["id"]
                    for i in httpx.get(f"{base}/v1/incidents", headers=api, timeout=5).json()["incidents"]
                }
                assert "declared" in slack_user.ir("UALICE", f"declare {title} low")["text"]

                def declared() -> str | None:
                    found = httpx.get(f"{base}/v1/incidents", headers=api, timeout=5).json()["incidents"]
                    return next((str(i["id"]) for i in found if i["id"] not in known), None)

                incident = wait_for(declared, timeout=30, what=f"the incident {title!r}")
                slack_user.ir("UALICE", f"run room incident={incident}")
                room = wait_for(
                    lambda: next(
                        (c["id"] for c in slack.channels.values() if incident in c.get("topic", "")), None
                    ),
                    timeout=45,
                    what="its room",
                )
                wait_for(lambda: slack.pins.get(room), timeout=30, what="its pinned card")
                return incident, room

            first, room = open_room("Build host compromised")
            other, other_room = open_room("Token dump on a pastebin")

            noted = slack_user.ir(
                "UDAVE", "note Dave checked the build host", channel=room
            )  # invited, not admin
            # typed in the room, the reply is the room's (Slack shows an in_channel answer to all)
            assert noted["response_type"] == "in_channel", noted
            assert noted["text"] == f"📝 Noted on `{first}` by <@UDAVE>: Dave checked the build host"
            assert slack_user.ir("UERIN", "note not my incident", channel=room)["text"].startswith("⛔")

            started = slack_user.ir("UALICE", "run gate", channel=room)["text"]
            run = started.split("`")[1]
            _said(slack, room, f"Step `gate` of *gate* (`{run}`) waits for approval")
            clicked = slack_user.click("UCAROL", "ir_approve", f"{run}|gate")  # named, not an admin
            assert clicked is not None and "approved ✅" in clicked["text"], clicked
            _said(slack, room, f"✅ Playbook *gate* (`{run}`")

            assert ENGAGED not in _card(slack, other_room)
            engaged = slack_user.ir("UALICE", "disconnect attacker on the build host", channel=room)
            assert engaged["text"].startswith("🛑 <@UALICE>: kill switch engaged")
            wait_for(lambda: ENGAGED in _card(slack, other_room), timeout=30, what="the other card engaged")
            assert other != first
        finally:
            proc.stop()
