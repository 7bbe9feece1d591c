"""Issue 29, items 4, 6 and 9: the people in an incident's room act in it, a lead and a severity
are set from Slack, and the timeline pages, hides step noise and names people.

Signed `/ir` commands over real HTTP against the app; Slack is the Web API stand-in, whose
``users.info`` gives the names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.app import create_app
from orchestrator.incidents import service as incidents
from tests.chatops.slack_driver import SlackDriver
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET, Engine, running_engine
from tests.support.processes import wait_for
from tests.support.receiver import receiver
from tests.support.server import serve_app
from tests.support.slack_standin import SlackStandIn, slack_standin

PLAYBOOKS = {
    "room": """
name: room
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel}
""",
    "checklist": """
name: checklist
trigger: {manual: {}}
steps:
  - id: confirm
    action: manual
    with: {title: Confirm the purge reached the backups}
  - id: rotate
    action: manual
    with: {title: Rotate the client secret in the developer portal, assignees: [UERIN]}
""",
    "chatter": """
name: chatter
trigger: {manual: {}}
steps:
"""
    + "".join(f'  - {{id: n{i}, action: note, with: {{message: "finding {i}"}}}}\n' for i in range(12)),
}

NAMES = {
    "UALICE": "Alice Liddell",
    "UBOB": "Bob Marley",
    "UDAVE": "Dave Lister",
    "UERIN": "Erin Brockovich",
    "UFRAN": "Fran Kubelik",
}


@dataclass
class Room:
    engine: Engine
    slack: SlackStandIn
    driver: SlackDriver

    def open(self, title: str) -> tuple[str, str]:
        """A new incident with its room: (incident id, channel id)."""
        incident = self.engine.open_incident(title)
        assert self.engine.finished(self.engine.start("room", incident_id=incident))["status"] == "succeeded"
        channel = next(c for c in self.slack.channels.values() if incident in c.get("topic", ""))
        return incident, channel["id"]

    def card(self, channel: str) -> str:
        """The pinned card's blocks, as text."""
        return str(self.slack.messages[channel][self.slack.pins[channel][0]]["blocks"])

    def waiting(self, run: str, step: str) -> None:
        self.engine.wait(run, lambda r: r["steps"][step] == "waiting_approval", f"{step} to wait")


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    tmp_path: Path = tmp_path_factory.mktemp("room")
    with slack_standin(BOT_TOKEN) as slack, receiver() as replies:
        for user_id, name in NAMES.items():
            slack.add_user(user_id, name)
        slack.usergroups.update({"SONCALL": ["UDAVE", "UERIN"], "SADMINS": ["UBOB"]})
        with (
            running_engine(
                tmp_path,
                PLAYBOOKS,
                slack_bot_token=BOT_TOKEN,
                slack_signing_secret=SIGNING_SECRET,
                slack_api_url=slack.url,
                slack_admins=["UALICE", "SADMINS"],
                slack_oncall_usergroup="SONCALL",
                slack_invite_users=["UFRAN"],
                slack_card_min_interval_seconds=0.2,
            ) as engine,
            serve_app(create_app(engine.runtime)) as base_url,
        ):
            yield Room(engine, slack, SlackDriver(base_url, SIGNING_SECRET, replies))


def _entries(room: Room, incident: str, kind: str) -> list[Any]:
    return [e for e in room.engine.entries(incident) if e.kind == kind]


def test_the_people_in_the_room_add_notes_and_mark_their_steps_done(room: Room) -> None:
    incident, channel = room.open("Secret found in a public repo")
    noted = room.driver.ir("UDAVE", "note Legal informed, customers next", channel=channel)["text"]
    assert noted.startswith(f"📝 Noted on `{incident}`")  # Dave is invited through the on-call group
    assert [(e.actor, e.message) for e in _entries(room, incident, "note")] == [
        ("slack:UDAVE", "Legal informed, customers next")
    ]
    run = room.engine.start("checklist", incident_id=incident)
    room.waiting(run, "confirm")
    opened = len(room.slack.views)
    room.driver.click("UDAVE", "ir_manual_done", f"{run}|confirm", channel=channel, wait=False)
    view = wait_for(lambda: room.slack.views[opened:], timeout=10, what="the Done modal")[-1]["view"]
    typed = {"manual_input": {"manual_input_value": {"type": "plain_text_input", "value": "nightly ok"}}}
    assert room.driver.submit("UDAVE", view, typed).status_code == 200
    posted = wait_for(
        lambda: [m for m in room.slack.messages[channel].values() if "completed `confirm`" in str(m["text"])],
        timeout=10,
        what="the step done, said in the room",
    )
    assert posted[0]["text"].startswith("✅ <@UDAVE> completed `confirm`")
    completed = _entries(room, incident, "manual.completed")[-1]
    assert (completed.actor, completed.data["input"]) == ("slack:UDAVE", {"note": "nightly ok"})
    room.waiting(run, "rotate")
    not_his = room.driver.ir("UDAVE", f"done {run} rotate", channel=channel)["text"]
    assert not_his.startswith("⛔ You are not allowed to mark `rotate` done. Who can: ")
    assert "the people the step names (Erin Brockovich)" in not_his
    assert room.driver.ir("UERIN", f"done {run} rotate", channel=channel)["text"].startswith("✅")
    assert room.engine.finished(run)["status"] == "succeeded"


def test_others_are_refused_with_the_names_of_who_can(room: Room) -> None:
    incident, channel = room.open("Token refresher logs leaked")
    refused = room.driver.ir("UMALLORY", "note I was here", channel=channel)["text"]
    assert refused.startswith("⛔ You are not allowed to note. Who can: ")
    assert f"the people of {incident} (Dave Lister, Erin Brockovich, Fran Kubelik)" in refused
    assert "the admins (Alice Liddell, Bob Marley)" in refused
    assert not _entries(room, incident, "note")
    assert _entries(room, incident, "slack.refused")[-1].actor == "slack:UMALLORY"
    switch = room.driver.ir("UDAVE", "disconnect attacker on ci-7", channel=channel)["text"]
    assert switch.startswith("⛔ You are not allowed to disconnect. Who can: the admins (Alice Liddell")
    assert "slack:U" not in refused + switch


def test_the_lead_is_on_the_timeline_and_the_card_with_everyone_involved(room: Room) -> None:
    incident, channel = room.open("Signing key stolen")
    assert "*Lead*: nobody yet" in room.card(channel)
    led = room.driver.ir("UALICE", "lead <@UDAVE|dave>", channel=channel)
    assert led["response_type"] == "in_channel" and led["text"].startswith(
        f"🧭 <@UDAVE> now leads `{incident}`"
    )
    lead = _entries(room, incident, "note")[-1]
    assert (lead.actor, lead.data["role"], lead.data["lead"]) == ("slack:UALICE", "lead", "slack:UDAVE")
    involved = "*Involved* (4): Dave Lister, Erin Brockovich, Fran Kubelik, Alice Liddell"
    wait_for(  # invited to the room, then Alice, who acted
        lambda: f"*Lead*: Dave Lister\\n{involved}" in room.card(channel),
        timeout=10,
        what="the lead on the card",
    )
    status = str(room.driver.ir("UERIN", "status", channel=channel)["blocks"])
    assert "*Lead*: Dave Lister" in status and involved in status
    # the lead, no admin, hands over; a participant who does not lead may not
    refused = room.driver.ir("UERIN", "lead <@UERIN>", channel=channel)["text"]
    assert refused.startswith("⛔") and "its lead Dave Lister; the admins (Alice Liddell" in refused
    assert room.driver.ir("UDAVE", "lead <@UERIN|erin>", channel=channel)["text"].startswith("🧭 <@UERIN>")
    wait_for(lambda: "*Lead*: Erin Brockovich" in room.card(channel), timeout=10, what="the new lead")
    assert (
        "Dave Lister leads the incident (named by Alice Liddell)"
        in room.driver.ir("UFRAN", "timeline", channel=channel)["text"]
    )
    assert "mention the person" in room.driver.ir("UALICE", "lead dave", channel=channel)["text"]


def test_severity_is_set_from_the_room_recorded_and_shown(room: Room) -> None:
    incident, channel = room.open("Suspicious login on the build host")
    raised = room.driver.ir("UALICE", "severity critical", channel=channel)
    assert raised["text"].startswith(f"<@UALICE> raised the severity of `{incident}` from low to critical.")
    assert "a hand-set severity starts none" in raised["text"]
    escalated = _entries(room, incident, "incident.escalated")[-1]
    assert escalated.data == {"from": "low", "to": "critical", "by": "slack:UALICE"}
    wait_for(lambda: "🔴 Suspicious login" in room.card(channel), timeout=10, what="critical on the card")
    lowered = room.driver.ir("UBOB", f"severity {incident} medium")["text"]  # by name, from elsewhere
    assert lowered.startswith(f"<@UBOB> lowered the severity of `{incident}` from critical to medium.")
    assert _entries(room, incident, "note")[-1].data == {
        "from": "critical",
        "to": "medium",
        "by": "slack:UBOB",
    }
    wait_for(lambda: "🟡 Suspicious login" in room.card(channel), timeout=10, what="medium on the card")
    with room.engine.runtime.store.unit_of_work() as session:
        assert incidents.get_incident(session, incident_id=incident).severity == "medium"
    assert "already medium" in room.driver.ir("UALICE", "severity medium", channel=channel)["text"]
    wrong = room.driver.ir("UALICE", "severity bad", channel=channel)["text"]
    assert "LEVEL one of info, low, medium, high, critical" in wrong
    assert room.driver.ir("UDAVE", "severity high", channel=channel)["text"].startswith("⛔")  # no lead yet


def test_the_timeline_pages_hides_step_noise_and_names_people(room: Room) -> None:
    incident, channel = room.open("Webhook secret rotated by mistake")
    for text in ("first look", "second look"):
        room.driver.ir("UALICE", f"note {text}", channel=channel)
    run = room.engine.start("chatter", incident_id=incident)
    assert room.engine.finished(run)["status"] == "succeeded"
    first = room.driver.ir("UERIN", "timeline", channel=channel)["text"]
    lines = [line for line in first.splitlines() if line.startswith("`")]
    assert len(lines) == 15 and "step.started" not in first and "step.succeeded" not in first
    hidden = re.match(
        rf"\*Timeline of {incident}\*: page 1 of 2, 15 of (\d+) entries \(step noise hidden\)", first
    )
    assert hidden is not None, first
    assert "*run.finished*" in lines[-1] and "*note* second look (Alice Liddell)" in first
    assert f"older: `/ir timeline {incident} page 2`" in first
    second = room.driver.ir("UERIN", f"timeline {incident} page 2")["text"]
    assert "*note* first look (Alice Liddell)" in second and "*incident.opened*" in second
    assert len([line for line in second.splitlines() if line.startswith("`")]) == int(hidden[1]) - 15
    assert "slack:UALICE" not in first + second and "older:" not in second
    everything = room.driver.ir("UERIN", "timeline all", channel=channel)["text"]
    shown = re.match(
        rf"\*Timeline of {incident}\*: page 1 of (\d+), 15 of (\d+) entries \(everything\)", everything
    )
    assert shown is not None and "*step.started*" in everything
    assert int(shown[2]) >= int(hidden[1]) + 24  # every note step started and succeeded
    beyond = room.driver.ir("UERIN", "timeline page 9", channel=channel)["text"]
    assert "page 9 of 2" in beyond and "_nothing on this page_" in beyond
    wrong = room.driver.ir("UERIN", "timeline page two", channel=channel)["text"]
    assert "`page` is not an option" in wrong and "Usage: `/ir timeline [INCIDENT] [page N] [all]`" in wrong


def test_lead_and_severity_typed_outside_the_room_are_said_in_the_room(room: Room) -> None:
    """The room heard nothing of a lead or a severity set from another channel."""
    incident, channel = room.open("Client secret pasted in a ticket")
    led = room.driver.ir("UALICE", f"lead {incident} <@UDAVE|dave>")  # typed in #general
    raised = room.driver.ir("UALICE", f"severity {incident} high")
    assert (led["response_type"], raised["response_type"]) == ("in_channel", "in_channel")
    said = [
        f"🧭 <@UDAVE> now leads `{incident}` (named by <@UALICE>).",
        f"<@UALICE> raised the severity of `{incident}` from low to high.",
    ]

    def in_room() -> bool:
        return all(t in [m["text"] for m in room.slack.messages[channel].values()] for t in said)

    wait_for(in_room, timeout=10, what=f"{said} in the room")
