"""Issue 29 against a running `orchestrator up` (Slack is the stand-in, every command and click a
signed request): a person invited to the room, not an admin, adds a note the room sees, and
ordinary prose reaches the timeline unredacted; a named approver, not an admin, approves by
button and the room hears the run succeed; a lead is named and the timeline shows people by
name; a run takes a quoted input; an update reaches the room and the announcements channel; a
kill switch engaged from one incident's room shows on the other incident's card; the incident
is resolved and closed from its room."""

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
from tests.support.prose import PROSE
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
    "hello.yaml": """
name: hello
trigger: {manual: {inputs: {who: {type: string, default: world}}}}
steps:
  - {id: greet, action: note, with: {message: "hello {{ inputs.who }}"}}
""",
}
NAMES = {"UALICE": "Alice Liddell", "UCAROL": "Carol Danvers", "UDAVE": "Dave Lister", "UERIN": "Erin Hale"}
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
        for user_id, name in NAMES.items():
            slack.add_user(user_id, name)
        slack.channels["CANNOUNCE"] = {"id": "CANNOUNCE", "name": "announcements", "members": ["UBOT"]}
        slack.messages["CANNOUNCE"] = {}
        env = slack_up_env(
            tmp_path / "data",
            port=api_port,
            books=books,
            slack_url=slack.url,
            slack_admins=json.dumps(["UALICE"]),
            slack_playbooks_allowed=json.dumps(["room", "gate", "hello"]),
            slack_announcements_channel="CANNOUNCE",
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

            def entries(incident: str) -> list[dict[str, Any]]:
                url = f"{base}/v1/incidents/{incident}/timeline"
                found: list[dict[str, Any]] = httpx.get(url, headers=api, timeout=5).json()["entries"]
                return found

            def timeline_pages() -> str:
                """Every page of `/ir timeline` typed in the room, as one text."""
                pages, number = [], 1
                while True:
                    pages.append(slack_user.ir("UDAVE", f"timeline page {number}", channel=room)["text"])
                    if "older:" not in pages[-1]:
                        return "\n".join(pages)
                    number += 1

            for text in PROSE:  # issue 29, item 2: nothing in ordinary prose is a secret
                assert slack_user.ir("UDAVE", f"note {text}", channel=room)["text"].endswith(f": {text}")
            daves = [
                e["message"] for e in entries(first) if e["kind"] == "note" and e["actor"] == "slack:UDAVE"
            ]
            assert daves == ["Dave checked the build host", *PROSE]
            shown = timeline_pages()
            assert [text for text in PROSE if f"*note* {text} (Dave Lister)" not in shown] == []

            # item 9: people by name, never slack:U...; a quoted input with spaces and a comma
            led = slack_user.ir("UALICE", "lead @UDAVE", channel=room)["text"]
            assert led == f"🧭 <@UDAVE> now leads `{first}` (named by <@UALICE>)."
            shown = timeline_pages()
            assert "*note* Dave Lister leads the incident (named by Alice Liddell) (Alice Liddell)" in shown
            assert "slack:U" not in shown
            quoted = slack_user.ir("UALICE", 'run hello who="Legal informed, customers next"', channel=room)
            _said(slack, room, f"✅ Playbook *hello* (`{quoted['text'].split('`')[1]}`")
            assert "hello Legal informed, customers next" in [e["message"] for e in entries(first)]

            # item 10: an update typed elsewhere reaches the room and the announcements channel
            said = "TikTok disconnected at 14:02, tokens revoked, report filed"
            update = slack_user.ir("UALICE", f"update {first} {said}")  # typed in #general
            assert update["text"] == f"📣 <@UALICE> on `{first}`: {said}"
            posted = f"📣 *Update on {first}* (Build host compromised) from <@UALICE>: {said}"
            assert (_said(slack, room, said)["text"], _said(slack, "CANNOUNCE", said)["text"]) == (
                posted,
                posted,
            )
            recorded = [e for e in entries(first) if e["kind"] == "status.update"]
            assert [(e["message"], e["data"]["posted_to"]) for e in recorded] == [(said, [room, "CANNOUNCE"])]

            assert ENGAGED not in _card(slack, other_room)
            engaged = slack_user.ir("UALICE", "disconnect attacker on the build host", channel=room)
            assert engaged["text"].startswith("🛑 <@UALICE>: kill switch engaged")
            wait_for(lambda: ENGAGED in _card(slack, other_room), timeout=30, what="the other card engaged")
            assert other != first

            # item 6: the room resolves and closes its incident
            resolved = slack_user.ir("UALICE", "resolve attacker evicted, secrets rotated", channel=room)
            assert resolved["text"] == f"✅ <@UALICE> resolved `{first}`."
            closed = slack_user.ir("UALICE", "close postmortem filed", channel=room)
            assert closed["text"] == f"🔒 <@UALICE> closed `{first}`."
            incident = httpx.get(f"{base}/v1/incidents/{first}", headers=api, timeout=5).json()
            assert incident["status"] == "closed"
            ended = [(e["kind"], e["actor"]) for e in entries(first) if e["kind"].startswith("incident.")]
            assert ended[-2:] == [("incident.resolved", "slack:UALICE"), ("incident.closed", "slack:UALICE")]
        finally:
            proc.stop()
