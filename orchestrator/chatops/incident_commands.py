"""`/ir note`, `/ir declare`, `/ir resolve|close`, `/ir update`, `/ir lead` and `/ir severity`:
what people add to an incident.

The incident is the one named, or the room's; text is redacted before it reaches the
hash-chained timeline, where nothing can be taken back.
"""

from __future__ import annotations

import re
from typing import Final

from orchestrator import clock, redaction
from orchestrator.chatops import lifecycle_commands as lifecycle
from orchestrator.chatops import participants, targets, updates
from orchestrator.chatops.replies import Caller, Reply
from orchestrator.errors import ValidationFailed
from orchestrator.ports import Ports
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["declare", "end", "lead", "note", "severity", "update"]

# Slack sends a picked person as <@U123|name> (or <@U123>); a bare id works too.
_MENTION: Final = re.compile(r"^(?:<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|@?([UW][A-Z0-9]{2,}))$")


def note(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, given = targets.incident_and_rest(runtime, caller.channel_id, raw)
    if incident_id is None or not given:
        raise ValidationFailed(
            "`/ir note INCIDENT TEXT`, e.g. `/ir note inc-1a2b3c secrets rotated on ci-7` "
            "(in an incident's room: `/ir note TEXT`)"
        )
    text = redaction.redact_text(given)[:10_000]
    with runtime.transaction() as session:
        timeline.append_entry(
            session,
            chain=incident_id,
            actor=caller.actor,
            kind=kinds.NOTE,
            message=text,
            data={"slack_user": caller.user_id, "via": "slack"},
        )
    in_room = targets.room_incident(runtime, caller.channel_id) == incident_id
    said = f"📝 Noted on `{incident_id}` by <@{caller.user_id}>: {text}"
    return Reply(said, public=in_room, incident_id=incident_id, to_room=True)


def declare(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    title, severity = lifecycle.declare(runtime, caller.actor, raw)
    opens = "its incident opens in a moment: `/ir list`"
    return Reply(f"🆕 <@{caller.user_id}> declared *{title}* ({severity}); {opens}.", public=True)


def end(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    verb = raw.split(None, 1)[0].lower()
    incident_id = lifecycle.end(runtime, verb, caller.actor, caller.channel_id, raw)
    word = "✅ <@{}> resolved" if verb == "resolve" else "🔒 <@{}> closed"
    said = f"{word.format(caller.user_id)} `{incident_id}`."
    return Reply(said, public=True, incident_id=incident_id, to_room=True)


def update(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, text, refused = updates.post_update(
        runtime, actor=caller.actor, user_id=caller.user_id, channel_id=caller.channel_id, raw=raw
    )
    missed = f"\n⚠️ Slack refused it in {', '.join(f'<#{c}>' for c in refused)}." if refused else ""
    return Reply(
        f"📣 <@{caller.user_id}> on `{incident_id}`: {text}{missed}", public=True, incident_id=incident_id
    )


def lead(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    """Name the incident commander: on the timeline (a ``note`` with ``role: lead``) and the card."""
    incident_id, given = targets.incident_and_rest(runtime, caller.channel_id, raw)
    found = _MENTION.match(given.strip())
    if incident_id is None or found is None:
        raise ValidationFailed(
            "`/ir lead [INCIDENT] @person`: mention the person, e.g. `/ir lead inc-1a2b3c @carol` "
            "(in the incident's room: `/ir lead @carol`)"
        )
    user_id = found.group(1) or found.group(2)
    now = clock.utcnow()
    with runtime.transaction() as session:
        previous = participants.set_lead(session, incident_id=incident_id, user_id=user_id, now=now)
        timeline.append_entry(
            session,
            chain=incident_id,
            actor=caller.actor,
            kind=kinds.NOTE,
            message=f"slack:{user_id} leads the incident (named by {caller.actor})",
            data={
                "role": "lead",
                "lead": f"slack:{user_id}",
                "previous": f"slack:{previous}" if previous else None,
                "slack_user": caller.user_id,
                "via": "slack",
            },
            at=now,
        )
    return Reply(
        f"🧭 <@{user_id}> now leads `{incident_id}` (named by <@{caller.user_id}>).",
        public=True,
        incident_id=incident_id,
        to_room=True,
    )


def severity(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, before, after = lifecycle.change_severity(runtime, caller.actor, caller.channel_id, raw)
    word = "raised" if after.rank > before.rank else "lowered"
    hint = (
        " Playbooks follow events: a hand-set severity starts none, the next critical event does"
        " (`/ir disconnect` engages the switch now)."
        if after.value == "critical"
        else ""
    )
    return Reply(
        f"<@{caller.user_id}> {word} the severity of `{incident_id}` "
        f"from {before.value} to {after.value}.{hint}",
        public=True,
        incident_id=incident_id,
        to_room=True,
    )
