"""Signed `/ir` commands and button clicks over real HTTP drive real runs; Slack is the stand-in."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator.api.app import create_app
from orchestrator.chatops import card_sync
from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import IncidentRow
from orchestrator.switch import flows
from orchestrator.switch import service as switch
from orchestrator.timeline.compliance import assess
from orchestrator.timeline.figures import load_record
from orchestrator.timeline.models import SYSTEM_CHAIN, TimelineEntryRow
from orchestrator.timeline.postmortem import render_postmortem
from tests.chatops.slack_driver import SlackDriver, slack_signature
from tests.support.engine import BOT_TOKEN, CLIENT_SECRET, SIGNING_SECRET, Engine, running_engine
from tests.support.processes import orchestrator_env, wait_for
from tests.support.prose import PROSE
from tests.support.receiver import Receiver, receiver
from tests.support.server import serve_app
from tests.support.slack_standin import SlackStandIn, slack_standin

PLAYBOOKS = {
    "room": """
name: room
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel}
  - {id: say, action: slack.post, with: {text: "Containment under way for {{ incident.id }}"}}
""",
    "room-badgroup": """
name: room-badgroup
trigger: {manual: {}}
steps:
  - {id: open, action: slack.open_channel, with: {usergroup: SNOPE, name: "sec-{incident_id}"}}
  - {id: say, action: slack.post, with: {text: "still here"}}
""",
    "gated": """
name: gated
trigger: {manual: {}}
steps:
  - id: disconnect
    action: note
    with: {message: "approved disconnect"}
    approval: {approvers: [any], timeout: 60s, on_timeout: deny}
""",
    "hello": """
name: hello
trigger: {manual: {inputs: {who: {type: string, default: world}}}}
steps:
  - {id: greet, action: note, with: {message: "hello {{ inputs.who }}"}}
""",
    "portal": """
name: portal
trigger: {manual: {}}
steps:
  - id: file_report
    action: manual
    with:
      title: File the report in TikTok's support form
      instructions: Paste the report into the developer portal's support form.
      input: ticket_id
      evidence: report
  - id: confirm_backups
    action: manual
    with: {title: Confirm the purge reached the backups}
""",
    "named-gate": """
name: named-gate
trigger: {manual: {}}
steps:
  - id: gate
    action: note
    with: {message: "approved by a named person"}
    approval: {approvers: [UALICE, UCAROL, SONCALL, root-on-call], timeout: 60s, on_timeout: deny}
  - id: ticket
    action: manual
    with: {title: Record the ticket, assignees: [UCAROL], input: ticket_id}
""",
    "secret-book": """
name: secret-book
trigger: {manual: {}}
steps:
  - {id: nope, action: note, with: {message: "must not run from Slack"}}
""",
}


@dataclass
class World:
    engine: Engine
    slack: SlackStandIn
    driver: SlackDriver
    replies: Receiver
    incident: str

    def kinds(self, chain: str) -> list[str]:
        return [e.kind for e in self.engine.entries(chain)]

    def engaged(self) -> bool:
        with self.engine.runtime.store.unit_of_work() as session:
            return switch.status(session).engaged

    def releases(self) -> int:
        """``switch.released`` entries in every chain (every incident's and the system's)."""
        count = select(func.count()).where(TimelineEntryRow.kind == "switch.released")
        with self.engine.runtime.store.unit_of_work() as session:
            return session.scalar(count) or 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("slack")
    with slack_standin(BOT_TOKEN) as slack, receiver() as replies:
        slack.usergroups.update({"SONCALL": ["UONCALL"], "SADMINS": ["UGROUPADMIN"]})
        slack.channels["CANNOUNCE"] = {
            "id": "CANNOUNCE",
            "name": "security-announcements",
            "members": ["UBOT"],
        }
        slack.messages["CANNOUNCE"] = {}
        with running_engine(
            tmp_path,
            PLAYBOOKS,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.url,
            slack_admins=["UALICE", "UBOB", "SADMINS"],
            slack_oncall_usergroup="SONCALL",
            slack_invite_users=["UNAMED"],
            slack_playbooks_allowed=["room", "gated", "hello"],
            slack_card_min_interval_seconds=0.5,
            slack_announcements_channel="CANNOUNCE",
        ) as engine:
            incident = engine.open_incident()
            with serve_app(create_app(engine.runtime)) as base_url:
                yield World(engine, slack, SlackDriver(base_url, SIGNING_SECRET, replies), replies, incident)


def _room(world: World) -> dict[str, Any]:
    run = world.engine.start("room", incident_id=world.incident)
    assert world.engine.finished(run)["status"] == "succeeded"
    return next(c for c in world.slack.channels.values() if world.incident in c.get("topic", ""))


def test_help_is_answered_at_once(world: World) -> None:
    body, _ = world.driver.command_body("URANDOM", "help")
    reply = world.driver.signed_post("/slack/commands", body).json()
    assert reply["response_type"] == "ephemeral"
    assert "`/ir release REASON`" in reply["text"] and "`/ir approve RUN STEP`" in reply["text"]


def test_open_commands_answer_everyone_through_response_url(world: World) -> None:
    assert "Kill switch:" in world.driver.ir("URANDOM", "status")["text"]
    assert world.incident in world.driver.ir("URANDOM", "list")["text"]
    card = world.driver.ir("URANDOM", f"status {world.incident}")
    assert card["text"].startswith("🔵 LOW incident") and card["blocks"][0]["type"] == "header"
    assert f"Timeline of {world.incident}" in world.driver.ir("URANDOM", f"timeline {world.incident}")["text"]
    entries = [e for e in world.engine.entries(SYSTEM_CHAIN) if e.kind == "slack.command"]
    assert {e.data["command"] for e in entries if e.actor == "slack:URANDOM"} >= {
        "status",
        "list",
        "timeline",
    }


def test_bad_missing_stale_and_replayed_signatures_get_401_and_touch_nothing(world: World) -> None:
    before = (len(world.engine.entries(world.incident)), len(world.slack.calls), len(world.replies.calls))
    body, _ = world.driver.command_body("UALICE", f"note {world.incident} replayed?")
    url = world.driver.base_url + "/slack/commands"
    assert httpx.post(url, content=body).status_code == 401
    stamp = str(int(time.time()))
    bad = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + "ab" * 32}
    assert httpx.post(url, content=body, headers=bad).status_code == 401
    stale = world.driver.signed_post("/slack/commands", body, timestamp=int(time.time()) - 600)
    assert stale.status_code == 401
    assert (
        len(world.engine.entries(world.incident)),
        len(world.slack.calls),
        len(world.replies.calls),
    ) == before
    stamp_now = int(time.time())
    assert world.driver.signed_post("/slack/commands", body, timestamp=stamp_now).status_code == 200
    assert world.driver.signed_post("/slack/commands", body, timestamp=stamp_now).status_code == 401
    signature = slack_signature(SIGNING_SECRET, str(stamp_now), body)
    unsigned_changed = {
        "X-Slack-Request-Timestamp": str(stamp_now),
        "X-Slack-Signature": signature,
        "X-Slack-Retry-Num": "1",
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    }
    assert httpx.post(url, content=body, headers=unsigned_changed).status_code == 401
    wait_for(lambda: world.kinds(world.incident).count("note") == 1, timeout=10, what="the one note")
    time.sleep(0.3)
    assert [e.message for e in world.engine.entries(world.incident) if e.kind == "note"] == ["replayed?"]


def test_unauthorised_user_is_refused_and_recorded(world: World) -> None:
    reply = world.driver.ir("UMALLORY", f"disconnect {world.incident}")
    assert reply["text"].startswith("⛔ You are not allowed to disconnect")
    refused = [e for e in world.engine.entries(world.incident) if e.kind == "slack.refused"]
    assert refused[-1].actor == "slack:UMALLORY" and refused[-1].data["slack_user"] == "UMALLORY"
    assert not world.engaged()
    reply = world.driver.ir("UALICE", "run secret-book")
    assert reply["text"].startswith("⛔ You are not allowed to run playbook secret-book")


def test_mistakes_say_what_to_type_instead(world: World) -> None:
    assert world.driver.ir("UALICE", "frobnicate")["text"].startswith(
        "Unknown command `frobnicate`. Try `/ir help`"
    )
    assert "Usage: `/ir approve RUN STEP`" in world.driver.ir("UALICE", "approve only-one")["text"]
    assert "Usage: `/ir note INCIDENT TEXT`" in world.driver.ir("UALICE", "note")["text"]
    assert "no incident with id 'inc-nope'" in world.driver.ir("UALICE", "timeline inc-nope")["text"]
    assert "you may run: gated, hello, room" in world.driver.ir("UALICE", "run nothing")["text"]


def test_run_with_inputs_starts_a_real_run(world: World) -> None:
    reply = world.driver.ir("UBOB", "run hello who=on-call")
    assert reply["response_type"] == "in_channel"
    run_id = reply["text"].split("`")[1]
    assert world.engine.finished(run_id)["status"] == "succeeded"
    assert [e.message for e in world.engine.entries(run_id) if e.kind == "note"] == ["hello on-call"]
    assert world.engine.entries(run_id)[0].actor == "slack:UBOB"


def test_room_is_opened_with_invites_a_pinned_card_and_a_thread_reply(world: World) -> None:
    channel = _room(world)
    messages = world.slack.messages[channel["id"]]
    card_ts, reply_ts = list(messages)[:2]  # then the run's end (test_room_news.py)
    assert set(channel["members"]) == {"UBOT", "UONCALL", "UNAMED"}
    assert world.slack.pins[channel["id"]] == [card_ts]
    assert messages[card_ts]["blocks"][0]["text"]["text"] == "🔵 Secrets found on build host"
    assert messages[reply_ts] | {"ts": None} == {
        "ts": None,
        "text": f"Containment under way for {world.incident}",
        "blocks": None,
        "edits": 0,
        "thread_ts": card_ts,
    }
    again = world.engine.start("room", incident_id=world.incident)  # a second run: same room, no second card
    assert world.engine.finished(again)["status"] == "succeeded"
    assert len([m for m in world.slack.messages[channel["id"]].values() if m["blocks"]]) == 1
    assert [world.incident in c.get("topic", "") for c in world.slack.channels.values()].count(True) == 1
    assert channel["name"].endswith("-secrets-found-on-build-host")


def test_rate_limits_and_a_wrong_user_group_lose_nothing(world: World) -> None:
    incident = world.engine.open_incident(title="Second incident")
    world.slack.rate_limit(2, retry_after=1)
    run = world.engine.start("room-badgroup", incident_id=incident)
    assert world.engine.finished(run)["status"] == "succeeded"
    channel = next(c for c in world.slack.channels.values() if c["name"] == f"sec-{incident}")
    texts = [m["text"] for m in world.slack.messages[channel["id"]].values()]
    assert texts[1] == "still here" and texts.count("still here") == 1  # then the run's end
    opened = [e for e in world.engine.entries(incident) if e.kind == "slack.channel_opened"]
    assert opened[0].data["invite_error"] == "no_such_subteam"
    assert [c["status"] for c in world.slack.calls].count(429) >= 2


def test_card_updates_in_place_throttled_and_the_last_state_lands(world: World) -> None:
    channel = _room(world)
    card_ts = next(ts for ts, m in world.slack.messages[channel["id"]].items() if m["blocks"])
    time.sleep(0.6)
    before = len(world.slack.answered("chat.update"))
    results = [card_sync.refresh_card(world.engine.runtime, world.incident) for _ in range(5)]
    # Workers refresh the card too when steps finish, so the first call may already be throttled.
    assert results[1:] == [False, False, False, False] and sum(results) <= 1
    reply = world.driver.ir("UALICE", f"disconnect {world.incident} attacker on ci-7")
    assert reply["text"].startswith("🛑 <@UALICE>: kill switch engaged")
    card = world.slack.messages[channel["id"]][card_ts]
    wait_for(lambda: "ENGAGED" in str(card["blocks"]), timeout=5, what="the engaged switch on the card")
    assert len(world.slack.answered("chat.update")) - before <= 3  # now, trailing, a worker's: never six
    release(world)


def release(world: World, incident: str | None = None) -> None:
    """Two people release the switch: the asker cannot approve their own request. The release is
    recorded in the incident of the engagement (``incident``, by default the module's)."""
    reply = world.driver.ir("UALICE", "release host rebuilt, secrets rotated")
    request_id = reply["blocks"][1]["elements"][0]["value"]
    own = world.driver.click("UALICE", "ir_release_approve", request_id)
    assert own is not None and "second person must approve" in own["text"]
    assert world.engaged()
    outsider = world.driver.click("UMALLORY", "ir_release_approve", request_id)
    assert outsider is not None and outsider["text"].startswith("⛔")
    done = world.driver.click(
        "UGROUPADMIN", "ir_release_approve", request_id
    )  # an admin through a user group
    assert done is not None and done["text"].startswith("🟢 Kill switch released")
    assert not world.engaged()
    chain = world.engine.entries(incident or world.incident)
    released = [e for e in chain if e.kind == "switch.released"][-1]
    assert (released.data["by"], released.data["approved_by"]) == ("slack:UALICE", "slack:UGROUPADMIN")


def test_buttons_engage_show_timeline_and_release_through_the_modal(world: World) -> None:
    _room(world)
    engaged = world.driver.click("UBOB", "ir_engage", world.incident)
    assert engaged is not None and "kill switch engaged" in engaged["text"] and world.engaged()
    shown = world.driver.click("URANDOM", "ir_timeline", world.incident)
    assert shown is not None and "switch.engaged" in shown["text"]
    world.driver.click("UBOB", "ir_release", world.incident, wait=False)
    view = wait_for(lambda: world.slack.views, timeout=10, what="the release modal")[-1]
    assert view["view"]["callback_id"] == "ir_release_modal"
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": "false alarm, drill"}}}
    answer = world.driver.submit("UBOB", view["view"], values)
    assert answer.status_code == 200
    posted = wait_for(
        lambda: [
            m for m in world.slack.answered("chat.postMessage") if "asks to release" in str(m.get("text"))
        ],
        timeout=10,
        what="the release request in the room",
    )
    request_id = posted[-1]["blocks"][1]["elements"][0]["value"]
    denied = world.driver.click("UALICE", "ir_release_deny", request_id)
    assert denied is not None and "denied the release" in denied["text"] and world.engaged()
    assert "switch.release_denied" in world.kinds(world.incident)
    release(world)


def test_a_release_approved_after_the_switch_changed_releases_nothing(world: World) -> None:
    """Asked while engaged for one compromise, approved after a release and a new engagement for
    another: the approval must not release the new engagement."""
    assert world.driver.click("UBOB", "ir_engage", world.incident) is not None and world.engaged()
    asked = world.driver.ir("UALICE", "release first compromise cleaned up")
    request_id = asked["blocks"][1]["elements"][0]["value"]
    assert "this request is void" in asked["blocks"][0]["text"]["text"]  # the card says so
    flows.release_switch(
        world.engine.runtime.store, world.engine.runtime.settings, by="cli:carol", reason="host rebuilt"
    )
    second = world.engine.open_incident("A new compromise: signing key stolen")
    assert world.driver.click("UBOB", "ir_engage", second) is not None and world.engaged()
    releases = world.releases()
    approved = world.driver.click("UGROUPADMIN", "ir_release_approve", request_id)
    assert approved is not None and f"release request {request_id} is void" in approved["text"]
    assert world.engaged() and world.releases() == releases  # no switch.released in any chain
    voided = [e for e in world.engine.entries(world.incident) if e.kind == "switch.release_voided"]
    assert [e.data["request_id"] for e in voided] == [request_id]
    release(world, incident=second)  # a new request for the new engagement releases it


def test_release_refusals_name_who_can_release(world: World) -> None:
    """Issue 29, item 4: the release buttons refused without naming anyone, and the release
    form's refusal was not in Slack's ``response_action: errors`` shape, so Slack showed nothing."""
    assert world.driver.click("UBOB", "ir_engage", world.incident) is not None and world.engaged()
    asked = world.driver.ir("UALICE", "release web-1 rebuilt")
    request_id = asked["blocks"][1]["elements"][0]["value"]
    who = "Who can: the admins (UALICE, UBOB, UGROUPADMIN)."
    refused = world.driver.click("UMALLORY", "ir_release_approve", request_id)
    assert refused is not None
    assert refused["text"] == f"⛔ You are not allowed to decide releases of the kill switch. {who}"
    form = {"callback_id": "ir_release_modal", "private_metadata": f"{world.incident}|CROOM"}
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": "let me release"}}}
    answer = world.driver.submit("UMALLORY", form, values)
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"reason": f"You are not allowed to release the kill switch. {who}"},
    }
    assert world.engaged()
    released = world.driver.click("UGROUPADMIN", "ir_release_approve", request_id)
    assert released is not None and released["text"].startswith("🟢 Kill switch released")


def test_approve_and_deny_by_command_and_by_button(world: World) -> None:
    first = world.driver.ir("UBOB", f"run gated incident={world.incident}")["text"].split("`")[1]
    world.engine.finished  # noqa: B018 - documented helper, waiting below instead
    wait_for(
        lambda: world.engine.run(first)["steps"]["disconnect"] == "waiting_approval", timeout=20, what="wait"
    )
    assert "approved ✅" in world.driver.ir("UALICE", f"approve {first} disconnect")["text"]
    assert world.engine.finished(first)["status"] == "succeeded"
    decided = [e for e in world.engine.entries(world.incident) if e.kind == "approval.decided"][-1]
    assert decided.data["by"] == "slack:UALICE"
    second = world.driver.ir("UBOB", f"run gated incident={world.incident}")["text"].split("`")[1]
    wait_for(
        lambda: world.engine.run(second)["steps"]["disconnect"] == "waiting_approval", timeout=20, what="wait"
    )
    card = world.driver.ir("URANDOM", f"status {world.incident}")
    assert any(
        e["action_id"] == "ir_deny" and e["value"] == f"{second}|disconnect"
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
    clicked = world.driver.click("UBOB", "ir_deny", f"{second}|disconnect")
    assert clicked is not None and "denied ❌" in clicked["text"]
    assert world.engine.finished(second)["status"] == "failed"


def _buttons(card: dict[str, Any]) -> dict[str, str]:
    return {
        e["value"]: e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
    }


def test_manual_steps_are_done_from_the_card_through_a_modal_and_by_command(world: World) -> None:
    run = world.engine.start("portal", incident_id=world.incident)
    step = world.engine.run
    wait_for(lambda: step(run)["steps"]["file_report"] == "waiting_approval", timeout=20, what="the step")
    card = world.driver.ir("URANDOM", f"status {world.incident}")
    assert _buttons(card)[f"{run}|file_report"] == "ir_manual_done"  # Done, never Approve
    assert "To do by a person*: File the report in TikTok's support form (needs its ticket_id)" in str(card)
    refused = world.driver.ir("UALICE", f"approve {run} file_report")
    assert "is a manual step" in refused["text"]
    outsider = world.driver.click("UMALLORY", "ir_manual_done", f"{run}|file_report")
    assert outsider is not None and outsider["text"].startswith("⛔")

    opened = len(world.slack.views)
    world.driver.click("UALICE", "ir_manual_done", f"{run}|file_report", wait=False)
    view = wait_for(lambda: world.slack.views[opened:], timeout=10, what="the Done modal")[-1]["view"]
    assert view["callback_id"] == "ir_manual_modal"
    assert view["blocks"][-1]["label"]["text"] == "Ticket id" and view["blocks"][-1]["optional"] is False

    def submit(value: str) -> httpx.Response:
        typed = {"manual_input": {"manual_input_value": {"type": "plain_text_input", "value": value}}}
        return world.driver.submit("UALICE", view, typed)

    empty = submit("  ")
    assert empty.status_code == 200 and "needs its ticket_id" in empty.json()["errors"]["manual_input"]
    assert step(run)["steps"]["file_report"] == "waiting_approval"
    accepted = submit("TT-48213")
    assert accepted.status_code == 200 and not accepted.content
    wait_for(lambda: step(run)["steps"]["file_report"] == "succeeded", timeout=20, what="the step to finish")
    again = submit("TT-99999")
    assert "already done by slack:UALICE" in again.json()["errors"]["manual_input"]
    wait_for(
        lambda: [m for m in world.slack.answered("chat.postMessage") if "completed `file_report`" in str(m)],
        timeout=10,
        what="the completion posted in the room",
    )
    completed = [e for e in world.engine.entries(world.incident) if e.kind == "manual.completed"][-1]
    assert (completed.actor, completed.data["input"]) == ("slack:UALICE", {"ticket_id": "TT-48213"})

    wait_for(lambda: step(run)["steps"]["confirm_backups"] == "waiting_approval", timeout=20, what="step 2")
    done = world.driver.ir("UBOB", f"done {run} confirm_backups checked the nightly backup")
    assert done["text"].startswith("✅ <@UBOB> completed `confirm_backups`")
    assert world.engine.finished(run)["status"] == "succeeded"
    with world.engine.runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=world.incident)
        report = assess(
            record, disconnect_target_minutes=60, report_target_minutes=60, now=record.entries[-1].at
        )
    assert report.clauses[1].status == "met"
    assert "TikTok support ticket TT-48213 recorded by slack:UALICE" in report.clauses[1].detail


def test_planted_secrets_never_reach_slack_replies_or_logs(world: World, log_stream: io.StringIO) -> None:
    text = f"note {world.incident} found {CLIENT_SECRET} and {BOT_TOKEN} and {SIGNING_SECRET} on ci-7"
    reply = world.driver.ir("UALICE", text)
    assert reply["text"].startswith("📝 Noted")
    world.driver.ir("UALICE", f"timeline {world.incident}")
    run = world.engine.start("room", incident_id=world.incident)
    world.engine.finished(run)
    # a person pastes a secret into the Done modal, and into `/ir done`
    manual = world.engine.start("portal", incident_id=world.incident)
    step = world.engine.run
    wait_for(lambda: step(manual)["steps"]["file_report"] == "waiting_approval", timeout=20, what="the step")
    opened = len(world.slack.views)
    world.driver.click("UALICE", "ir_manual_done", f"{manual}|file_report", wait=False)
    view = wait_for(lambda: world.slack.views[opened:], timeout=10, what="the Done modal")[-1]["view"]
    typed = f"TT-1 {CLIENT_SECRET}"
    values = {"manual_input": {"manual_input_value": {"type": "plain_text_input", "value": typed}}}
    assert world.driver.submit("UALICE", view, values).status_code == 200
    wait_for(lambda: step(manual)["steps"]["confirm_backups"] == "waiting_approval", timeout=20, what="2nd")
    done = world.driver.ir("UBOB", f"done {manual} confirm_backups token {BOT_TOKEN} was in the backup")
    assert done["text"].startswith("✅")
    wait_for(lambda: world.engine.finished(manual)["status"] == "succeeded", timeout=20, what="the run")
    everything = " ".join(world.slack.raw_bodies) + str(world.replies.calls) + log_stream.getvalue()
    everything += str([(e.message, e.data) for e in world.engine.entries(world.incident)])
    for secret in (CLIENT_SECRET, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in everything


def test_notes_in_plain_english_reach_the_timeline_and_the_room_unchanged(world: World) -> None:
    """Issue 29: the redactor rewrote "token refresher" in the permanent record."""
    for text in PROSE:
        assert world.driver.ir("UALICE", f"note {world.incident} {text}")["text"].startswith("📝 Noted")
    notes = [e.message for e in world.engine.entries(world.incident) if e.kind == "note"]
    assert notes[-len(PROSE) :] == PROSE
    shown = world.driver.ir("UALICE", f"timeline {world.incident}")["text"]
    assert all(text in shown for text in PROSE[-5:])  # the page shows the latest entries


def _waiting(world: World, run: str, step: str) -> None:
    wait_for(
        lambda: world.engine.run(run)["steps"][step] == "waiting_approval",
        timeout=20,
        what=f"{step}: {world.engine.run(run)}",
    )


def test_named_approvers_and_assignees_act_from_slack_admins_or_not(world: World) -> None:
    """Issue 29, item 1: a named non-admin was refused at the admin gate, and a named admin was
    refused by the step because the actor is recorded as slack:U..."""
    incident = world.engine.open_incident("Named approvers decide")
    by_button = world.engine.start("named-gate", incident_id=incident)
    _waiting(world, by_button, "gate")
    refused = world.driver.ir("URANDOM", f"approve {by_button} gate")["text"]
    assert refused.startswith("⛔") and "UALICE, UCAROL, SONCALL" in refused
    not_named = world.driver.ir("UBOB", f"approve {by_button} gate")["text"]  # an admin, not named
    assert "may not approve step 'gate'" in not_named
    clicked = world.driver.click("UCAROL", "ir_approve", f"{by_button}|gate")  # named, not an admin
    assert clicked is not None and "approved ✅" in clicked["text"]
    _waiting(world, by_button, "ticket")
    done = world.driver.ir("UCAROL", f"done {by_button} ticket TT-77")["text"]
    assert done.startswith("✅"), done
    assert world.engine.finished(by_button)["status"] == "succeeded"
    by_group = world.engine.start("named-gate", incident_id=incident)
    _waiting(world, by_group, "gate")
    assert "approved ✅" in world.driver.ir("UONCALL", f"approve {by_group} gate")["text"]  # via SONCALL
    by_admin = world.engine.start("named-gate", incident_id=incident)
    _waiting(world, by_admin, "gate")
    assert "approved ✅" in world.driver.ir("UALICE", f"approve {by_admin} gate")["text"]
    decided = [e for e in world.engine.entries(incident) if e.kind == "approval.decided"]
    assert [e.data["by"] for e in decided[-3:]] == ["slack:UCAROL", "slack:UONCALL", "slack:UALICE"]


def test_named_approvers_approve_from_the_cli_with_as(world: World) -> None:
    incident = world.engine.open_incident("Approved from the CLI")
    run = world.engine.start("named-gate", incident_id=incident)
    _waiting(world, run, "gate")
    data_dir = world.engine.runtime.settings.data_dir
    env = orchestrator_env(data_dir, intake_token="t" * 24, api_token="a" * 24)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "orchestrator", "run", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    refused = cli("approve", run, "gate", "--as", "UMALLORY")
    assert refused.returncode != 0 and "cli:UMALLORY may not approve step 'gate'" in refused.stderr
    approved = cli("approve", run, "gate", "--as", "root-on-call")
    assert approved.returncode == 0, approved.stderr
    assert "approved gate" in approved.stdout and "cli:root-on-call" in approved.stdout
    _waiting(world, run, "ticket")
    assert cli("done", run, "ticket", "--input", "ticket_id=TT-9", "--as", "UCAROL").returncode == 0
    assert world.engine.finished(run)["status"] == "succeeded"


def test_in_a_room_commands_know_their_incident_and_inputs_take_quotes(world: World) -> None:
    """Issue 29, items 6 and 9: inside an incident's room no id is needed; run inputs may be quoted."""
    room = _room(world)["id"]
    noted = world.driver.ir("UALICE", "note Legal informed; don't page twice", channel=room)["text"]
    assert noted.startswith(f"📝 Noted on `{world.incident}`")
    notes = [e.message for e in world.engine.entries(world.incident) if e.kind == "note"]
    assert notes[-1] == "Legal informed; don't page twice"
    shown = world.driver.ir("URANDOM", "timeline", channel=room)["text"]
    assert shown.startswith(f"*Timeline of {world.incident}*") and "don't page twice" in shown
    card = world.driver.ir("URANDOM", "status", channel=room)
    assert card["text"].startswith(f"🔵 LOW incident {world.incident}:")
    assert "Kill switch" in world.driver.ir("URANDOM", "status")["text"]  # outside a room: the summary
    assert "name the incident" in world.driver.ir("URANDOM", "timeline")["text"]
    for quoted in ('who="Legal informed, customers next"', "who=\u201cLegal informed, customers next\u201d"):
        reply = world.driver.ir("UBOB", f"run hello {quoted}", channel=room)["text"]
        run = reply.split("`")[1]
        assert world.engine.finished(run)["status"] == "succeeded"
        greeting = [e.message for e in world.engine.entries(world.incident) if e.kind == "note"][-1]
        assert greeting == "hello Legal informed, customers next"  # and the run is the room's incident
    unclosed = world.driver.ir("UBOB", 'run hello who="no end', channel=room)["text"]
    assert "No closing quotation" in unclosed and "close the quote" in unclosed


def test_incidents_are_declared_resolved_and_closed_from_slack(world: World) -> None:
    """Issue 29, item 6: the lifecycle was CLI only."""
    assert world.driver.ir("URANDOM", "declare Suspicious login low")["text"].startswith("⛔")
    assert "give it a title" in world.driver.ir("UALICE", "declare")["text"]
    reply = world.driver.ir("UALICE", "declare Suspicious login on the build host low")["text"]
    assert "declared *Suspicious login on the build host* (low)" in reply

    def declared() -> IncidentRow | None:
        with world.engine.runtime.store.unit_of_work() as session:
            rows = incidents.list_incidents(session, limit=500)
            return next((r for r in rows if r.title == "Suspicious login on the build host"), None)

    incident = wait_for(declared, timeout=20, what="the declared incident")
    assert incident.severity == "low"
    received = [e for e in world.engine.entries(incident.id) if e.kind == "event.received"]
    assert received[0].data["source"] == "slack"
    early = world.driver.ir("UALICE", f"close {incident.id} done")["text"]
    assert "resolve it first" in early
    assert (
        "Usage: `/ir resolve INCIDENT SUMMARY`" in world.driver.ir("UALICE", f"resolve {incident.id}")["text"]
    )
    resolved = world.driver.ir("UALICE", f"resolve {incident.id} a colleague's login, confirmed by phone")
    assert resolved["text"].startswith(f"✅ <@UALICE> resolved `{incident.id}`")
    closed = world.driver.ir("UBOB", f"close {incident.id} nothing to follow up")["text"]
    assert closed.startswith(f"🔒 <@UBOB> closed `{incident.id}`")
    kinds_seen = [e.kind for e in world.engine.entries(incident.id)]
    assert "incident.resolved" in kinds_seen and "incident.closed" in kinds_seen
    resolved_entry = next(e for e in world.engine.entries(incident.id) if e.kind == "incident.resolved")
    assert resolved_entry.actor == "slack:UALICE"


def test_status_updates_reach_the_room_and_the_announcements_and_the_postmortem(world: World) -> None:
    """Issue 29, item 10."""
    room = _room(world)["id"]
    said = "TikTok disconnected at 14:02, tokens revoked, report filed"
    in_room = world.driver.ir("UALICE", f"update {said}", channel=room)["text"]
    assert in_room.startswith(f"📣 <@UALICE> on `{world.incident}`: {said}")
    elsewhere = world.driver.ir(
        "UBOB", f"update {world.incident} Customers informed; token {BOT_TOKEN} rotated"
    )
    assert BOT_TOKEN not in elsewhere["text"]
    announced = [m["text"] for m in world.slack.messages["CANNOUNCE"].values()]
    assert any(said in t and f"Update on {world.incident}" in t for t in announced)
    assert any("Customers informed" in t for t in announced) and not any(BOT_TOKEN in t for t in announced)
    in_the_room = [m["text"] or "" for m in world.slack.messages[room].values()]
    assert any("Customers informed" in t for t in in_the_room)  # typed elsewhere: posted to the room
    assert not any(said in t for t in in_the_room)  # typed in the room: its reply is the post there
    assert "Usage: `/ir update INCIDENT TEXT`" in world.driver.ir("UALICE", "update")["text"]
    with world.engine.runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=world.incident)
    draft = render_postmortem(record, generated_at=record.entries[-1].at)
    updates = draft.split("## Status updates")[1].split("## Timeline")[0]
    assert f"slack:UALICE: {said}" in updates and "Customers informed" in updates


# Last in the module: after it closed its two runtimes, the module's engine ran no more playbooks
# (process-global state, issue 23).
def test_slack_off_answers_404_and_no_signing_secret_503(tmp_path: Path) -> None:
    from orchestrator.config import load_settings
    from tests.support.runtime import make_runtime

    off = make_runtime(load_settings(overrides={"data_dir": tmp_path / "off"}))
    half = make_runtime(
        load_settings(overrides={"data_dir": tmp_path / "half", "slack_bot_token": BOT_TOKEN})
    )
    try:
        with serve_app(create_app(off)) as url:
            response = httpx.post(url + "/slack/commands", content=b"text=help")
            assert (response.status_code, response.json()) == (
                404,
                {"error": "Slack not configured: set ORCH_SLACK_BOT_TOKEN"},
            )
        with serve_app(create_app(half)) as url:
            response = httpx.post(url + "/slack/interactions", content=b"payload={}")
            assert response.status_code == 503 and "ORCH_SLACK_SIGNING_SECRET" in response.json()["error"]
    finally:
        off.close()
        half.close()
