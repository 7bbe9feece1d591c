"""`/ir disconnect` and `/ir release`: the kill switch from Slack.

Engaging is one person's call and immediate; releasing is only ever a request that a second
person approves (``release``), so a stolen Slack session cannot reconnect the app alone.
"""

from __future__ import annotations

from orchestrator.chatops import cards, release, targets
from orchestrator.chatops.replies import Caller, Reply
from orchestrator.errors import ValidationFailed
from orchestrator.ports import Ports
from orchestrator.switch import flows as switch_flows

__all__ = ["ask_release", "disconnect"]


def disconnect(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, given = targets.incident_and_rest(runtime, caller.channel_id, raw)
    reason = given or f"disconnect requested in Slack by {caller.actor}"
    change = switch_flows.engage_switch(
        runtime.store, runtime.settings, by=caller.actor, reason=reason, incident_id=incident_id
    )
    word = "engaged" if change.changed else "was already engaged"
    return Reply(
        f"🛑 <@{caller.user_id}>: kill switch {word}. No TikTok call leaves the app.",
        public=True,
        incident_id=incident_id,
        to_room=True,
    )


def ask_release(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    reason = raw.partition(" ")[2].strip()
    if not reason:
        raise ValidationFailed("give a reason: `/ir release host rebuilt and secrets rotated`")
    request_id = release.request_release(
        runtime,
        user_id=caller.user_id,
        reason=reason,
        incident_id=targets.room_incident(runtime, caller.channel_id),
    )
    text, blocks = cards.release_request_message(request_id, caller.user_id, reason)
    return Reply(text, blocks, public=True)
