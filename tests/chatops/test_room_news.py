"""Issue 29, item 7: the incident's room says what happens. Runs end (or fail, with the reason),
steps wait for people (with their deadline), reminders, notes and replies typed elsewhere are
posted in the room, and a decided message shows the decision instead of its buttons. Signed
requests over real HTTP; Slack is the stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from orchestrator.api.app import create_app
from tests.chatops.slack_driver import SlackDriver
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET, Engine, running_engine
from tests.support.processes import wait_for
from tests.support.receiver import receiver
from tests.support.server import serve_app
from tests.support.slack_standin import SlackStandIn, slack_standin

PLAYBOOKS = {  # and the shipped ones, revoke-tokens among them
    "room": """
name: room
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel}
""",
    "hello": """
name: hello
trigger: {manual: {}}
steps:
  - {id: greet, action: note, with: {message: "hello"}}
""",
    "gated": """
name: gated
trigger: {manual: {}}
steps:
  - id: gate
    action: note
    with: {message: "approved"}
    approval: {approvers: [UALICE], timeout: 30m, on_timeout: approve}
""",
    "chore": """
name: chore
trigger: {manual: {}}
steps:
  - id: rotate
    action: manual
    with: {title: Rotate the client secret, input: ticket_id, remind_every: 1s}
""",
}


PLAYBOOKS["hurried"] = PLAYBOOKS["gated"].replace("gated", "hurried").replace("30m", "1s")


@dataclass
class World:
    engine: Engine
    slack: SlackStandIn
    driver: SlackDriver

    def room(self, title: str) -> tuple[str, str]:
        """A new incident and its room: (incident id, channel id)."""
        incident = self.engine.open_incident(title)
        assert self.engine.finished(self.engine.start("room", incident_id=incident))["status"] == "succeeded"
        channel = next(c["id"] for c in self.slack.channels.values() if incident in c.get("topic", ""))
        return incident, channel

    def posted(self, channel: str, needle: str, timeout: float = 20) -> dict[str, Any]:
        """The room's message containing ``needle`` (waits for it)."""

        def found() -> dict[str, Any] | None:
            messages = list(self.slack.messages[channel].values())
            return next((m for m in messages if needle in str(m["text"])), None)

        return wait_for(found, timeout=timeout, what=f"{needle!r} in the room")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("room-news")
    with (
        slack_standin(BOT_TOKEN) as slack,
        receiver() as replies,
        running_engine(
            tmp_path,
            PLAYBOOKS,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.url,
            slack_admins=["UALICE", "UBOB"],
            slack_playbooks_allowed=["revoke-tokens", "hello"],
            slack_card_min_interval_seconds=0.5,
        ) as engine,
        serve_app(create_app(engine.runtime)) as base_url,
    ):
        yield World(engine, slack, SlackDriver(base_url, SIGNING_SECRET, replies))


def _has_buttons(message: dict[str, Any]) -> bool:
    return any(block["type"] == "actions" for block in message["blocks"] or [])


def test_a_failed_run_started_from_the_room_is_reported_there_with_its_reason(world: World) -> None:
    incident, room = world.room("Tokens leaked in a build log")
    started = world.driver.ir("UALICE", "run revoke-tokens scope=bogus", channel=room)
    run = started["text"].split("`")[1]
    assert world.engine.finished(run)["status"] == "failed"
    assert run in {e.data.get("run_id") for e in world.engine.entries(incident)}  # the room's incident
    failed = world.posted(room, "❌ Playbook *revoke-tokens*")
    assert failed["text"] == (
        f"❌ Playbook *revoke-tokens* (`{run}`, started by <@UALICE>) failed: step `revoke`: "
        "scope 'bogus' not understood: use all, open_id:ID[,ID...], label:KEY=VALUE or tenant:NAME"
    )
    assert not any(started["text"] in str(m["text"]) for m in world.slack.messages[room].values())


def test_a_run_started_elsewhere_is_announced_and_its_end_posted_in_the_room(world: World) -> None:
    incident, room = world.room("Suspicious refresh from a new ASN")
    started = world.driver.ir("UBOB", f"run hello incident={incident}")  # typed in #general
    run = started["text"].split("`")[1]
    assert world.engine.finished(run)["status"] == "succeeded"
    assert world.posted(room, "▶️ <@UBOB> started *hello*")["text"] == started["text"]
    finished = world.posted(room, "✅ Playbook *hello*")
    assert finished["text"] == f"✅ Playbook *hello* (`{run}`, started by <@UBOB>) succeeded."


def test_notes_typed_anywhere_are_seen_in_the_room_and_only_once(world: World) -> None:
    incident, room = world.room("Notes reach the room")
    elsewhere = world.driver.ir("UALICE", f"note {incident} Legal informed, customers next")
    said = f"📝 Noted on `{incident}` by <@UALICE>: Legal informed, customers next"
    assert (elsewhere["response_type"], elsewhere["text"]) == ("ephemeral", said)
    assert world.posted(room, "Legal informed")["text"] == said
    inside = world.driver.ir("UBOB", "note rotated the secret", channel=room)
    assert inside["response_type"] == "in_channel"  # Slack shows it to the room
    world.posted(room, "Noted on")  # the first note; the second must not be posted again
    assert not any("rotated the secret" in str(m["text"]) for m in world.slack.messages[room].values())


def test_an_approval_asks_in_the_room_with_its_deadline_and_a_click_replaces_its_buttons(
    world: World,
) -> None:
    incident, room = world.room("An approval in the room")
    run = world.engine.start("gated", incident_id=incident)
    asked = world.posted(room, "waits for approval by <@UALICE>")
    assert "it approves itself at " in asked["text"] and "(in 30 min) unless someone decides" in asked["text"]
    assert _has_buttons(asked)
    clicked = world.driver.click("UALICE", "ir_approve", f"{run}|gate", channel=room, message_ts=asked["ts"])
    assert clicked is not None and "approved ✅" in clicked["text"]
    assert world.engine.finished(run)["status"] == "succeeded"
    wait_for(lambda: asked["edits"] > 0, timeout=20, what="the ask replaced by the decision")
    assert asked["text"].startswith(f"✅ approved: step `gate` of *gated* (`{run}`), by <@UALICE> at ")
    assert not _has_buttons(asked)


def test_a_deadline_that_decides_replaces_the_buttons_too(world: World) -> None:
    incident, room = world.room("Nobody decided")
    run = world.engine.start("hurried", incident_id=incident)
    asked = world.posted(room, "waits for approval by <@UALICE>")
    assert world.engine.finished(run)["status"] == "succeeded"
    wait_for(lambda: "by the deadline" in str(asked["text"]), timeout=20, what="the deadline's decision")
    assert asked["text"].startswith("✅ approved: step `gate` of *hurried*") and not _has_buttons(asked)


def test_a_manual_step_is_asked_and_reminded_in_the_room_and_done_replaces_its_button(world: World) -> None:
    incident, room = world.room("A chore for a person")
    run = world.engine.start("chore", incident_id=incident)
    asked = world.posted(room, "🖐 To do by a person: *Rotate the client secret*")
    assert _has_buttons(asked)
    reminder = world.posted(room, "⏰ Reminder: *Rotate the client secret* has waited")
    assert f"`/ir done {run} rotate TICKET_ID`" in reminder["text"]
    done = world.driver.ir("UBOB", f"done {run} rotate TT-4521")
    assert done["text"].startswith("✅ <@UBOB> completed `rotate`")
    assert world.engine.finished(run)["status"] == "succeeded"
    wait_for(lambda: asked["edits"] > 0, timeout=20, what="the ask replaced by the decision")
    assert asked["text"].startswith("✅ *Rotate the client secret* (ticket_id TT-4521) done by <@UBOB> at ")
    assert not _has_buttons(asked)


def test_a_release_decided_by_button_replaces_the_request_buttons(world: World) -> None:
    incident, room = world.room("Release from the room")
    assert world.driver.click("UBOB", "ir_engage", incident, channel=room) is not None
    world.driver.click("UBOB", "ir_release", incident, channel=room, wait=False)
    view = wait_for(lambda: world.slack.views, timeout=10, what="the release modal")[-1]["view"]
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": "host rebuilt"}}}
    assert world.driver.submit("UBOB", view, values).status_code == 200
    request = world.posted(room, "asks to release the kill switch")
    request_id = request["blocks"][1]["elements"][0]["value"]
    approved = world.driver.click(
        "UALICE", "ir_release_approve", request_id, channel=room, message_ts=request["ts"]
    )
    assert approved is not None and approved["text"].startswith("🟢 Kill switch released")
    wait_for(lambda: request["edits"] > 0, timeout=10, what="the request replaced by the decision")
    assert request["text"].startswith("🟢 Release approved by <@UALICE> at ")
    assert request["text"].endswith("the kill switch is released (asked by <@UBOB>).")
    assert not _has_buttons(request)


def test_slack_down_delays_the_news_and_holds_up_no_run(world: World) -> None:
    incident, room = world.room("Slack is down")
    world.slack.outage("5xx")
    try:
        run = world.engine.start("hello", incident_id=incident)
        assert world.engine.finished(run)["status"] == "succeeded"  # the run never waits for Slack
        wait_for(lambda: world.slack.failed_calls("chat.postMessage"), timeout=20, what="a refused post")
    finally:
        world.slack.outage(None)
    told = world.posted(room, f"✅ Playbook *hello* (`{run}`", timeout=30)  # the relay sends it again
    assert [m["text"] for m in world.slack.messages[room].values()].count(told["text"]) == 1
