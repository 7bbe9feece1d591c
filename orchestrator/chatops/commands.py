"""`/ir` commands: parse the text, check who may run it, call the flows, record it, and reply.

One handler serves the HTTP endpoint and Socket Mode. Every command (refused ones too) is a
timeline entry with the Slack user id as ``slack:<id>``; errors say what to type instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from orchestrator import clock, redaction
from orchestrator.chatops import (
    card_sync,
    incident_commands,
    participants,
    read_commands,
    roles,
    room_news,
    run_commands,
    switch_commands,
)
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops.access import OPEN_COMMANDS, Access
from orchestrator.chatops.names import names_for
from orchestrator.chatops.people import step_people
from orchestrator.chatops.replies import Caller, Reply, record
from orchestrator.errors import NotFound, OrchestratorError, ValidationFailed
from orchestrator.ports import Ports

__all__ = ["USAGE", "handle_command"]

USAGE: Final = {
    "help": "`/ir help`: this list",
    "status": "`/ir status [INCIDENT]`: the kill switch and open incidents, or one incident's card",
    "list": "`/ir list`: open incidents",
    "run": "`/ir run PLAYBOOK [key=value ...] [incident=INCIDENT]`: start a playbook",
    "approve": "`/ir approve RUN STEP`: approve a step waiting for approval",
    "deny": "`/ir deny RUN STEP`: deny a step waiting for approval",
    "done": "`/ir done RUN STEP [VALUE]`: mark a manual step done (VALUE: its input, e.g. a ticket id)",
    "disconnect": "`/ir disconnect [INCIDENT] [app=NAME] [REASON]`: engage the kill switch (stop all "
    "TikTok calls; `app=NAME`: that app's only)",
    "release": "`/ir release REASON`: ask to release the kill switch (a second person approves; "
    "`/ir release app=NAME REASON`: that app's switch)",
    "note": "`/ir note INCIDENT TEXT`: add a note to an incident's timeline",
    "declare": "`/ir declare TITLE [SEVERITY]`: open an incident by hand (default severity high)",
    "resolve": "`/ir resolve INCIDENT SUMMARY`: mark an incident resolved",
    "close": "`/ir close INCIDENT SUMMARY`: close a resolved incident",
    "update": "`/ir update INCIDENT TEXT`: a stakeholder update, to the room and the announcements channel",
    "lead": "`/ir lead [INCIDENT] @person`: name the incident commander (shown on the card)",
    "severity": "`/ir severity [INCIDENT] LEVEL`: set the severity (critical, high, medium, low, info)",
    "timeline": "`/ir timeline [INCIDENT] [page N] [all]`: the timeline, latest page first; "
    "`all` shows the step noise too",
}


def _help(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    lines = [USAGE[name] for name in USAGE]
    return Reply("*Incident response commands*\n" + "\n".join(lines))


Handler = Callable[[Ports, Caller, list[str], str], Reply]
_HANDLERS: dict[str, Handler] = {
    "help": _help,
    "status": read_commands.status,
    "list": read_commands.open_incidents,
    "timeline": read_commands.show_timeline,
    "disconnect": switch_commands.disconnect,
    "release": switch_commands.ask_release,
    "note": incident_commands.note,
    "declare": incident_commands.declare,
    "resolve": incident_commands.end,
    "close": incident_commands.end,
    "update": incident_commands.update,
    "lead": incident_commands.lead,
    "severity": incident_commands.severity,
}


def _named_incident(command: str, args: list[str]) -> str | None:
    if (
        command
        in ("status", "timeline", "note", "disconnect", "resolve", "close", "update", "lead", "severity")
        and args
        and args[0].startswith("inc-")
    ):
        return args[0]
    return None


def handle_command(runtime: Ports, *, text: str, caller: Caller, access: Access) -> Reply:
    """Run one `/ir` command for ``caller``; never raises for the user's mistakes."""
    words = text.split()
    command = words[0].lower() if words else "help"
    args = words[1:]
    shown_args = redaction.redact_text(" ".join(args))[:500]
    if command not in USAGE:
        return Reply(f"Unknown command `{command[:30]}`. Try `/ir help`:\n" + "\n".join(USAGE.values()))
    named = _named_incident(command, args)
    people = step_people(runtime, access, caller.user_id, command, args)
    allowed, place = roles.may_act(runtime, access, caller, command, text, people)
    names = names_for(runtime.settings)
    may_start = not (
        command == "run" and args and args[0] in runtime.playbooks and not access.may_start(args[0])
    )
    if not allowed or not may_start:
        record(
            runtime,
            caller=caller,
            kind=slack_kinds.SLACK_REFUSED,
            chain=named or place.incident_id,
            message=f"{caller.actor} was refused `/ir {command}`: not authorised",
            data={"command": command, "args": shown_args, "reason": "not authorised"},
        )
        if not may_start:
            why = f"run playbook {args[0]}: it is not among the playbooks Slack may start."
        else:
            what = f"mark `{args[1]}` done" if command == "done" and len(args) > 1 else command
            why = f"{what}. {place.who_can(command, people, access, names)}"
        return Reply(
            f"⛔ You are not allowed to {why} Anyone may use "
            f"{', '.join(f'`/ir {c}`' for c in sorted(OPEN_COMMANDS))}.",
            error="not authorised",
        )
    try:
        if command == "run":
            reply = run_commands.run(runtime, caller, args, text, access)
        elif command in ("approve", "deny"):
            reply = run_commands.decide(runtime, caller, args, command == "approve", people)
        elif command == "done":
            reply = run_commands.done(runtime, caller, text, people)
        else:
            reply = _HANDLERS[command](runtime, caller, args, text)
        outcome = "ok"
    except (ValidationFailed, NotFound) as exc:
        reply, outcome = Reply(f"⚠️ {exc}\nUsage: {USAGE[command]}", error=str(exc)), f"error: {exc}"
    except OrchestratorError as exc:
        reply = Reply(f"⚠️ `/ir {command}` failed: {exc}. Try again in a moment.", error=str(exc))
        outcome = f"error: {exc}"
    chain = reply.incident_id or (named if outcome == "ok" else None)
    record(
        runtime,
        caller=caller,
        kind=slack_kinds.SLACK_COMMAND,
        chain=chain if command not in OPEN_COMMANDS else None,
        message=f"{caller.actor} ran `/ir {command}`",
        data={"command": command, "args": shown_args, "outcome": outcome[:300]},
    )
    if reply.incident_id and reply.to_room and outcome == "ok":
        room_news.repeat_in_room(
            runtime, incident_id=reply.incident_id, text=reply.text, typed_in=caller.channel_id
        )
    if reply.incident_id and command not in OPEN_COMMANDS:
        if outcome == "ok":
            participants.note_acted(
                runtime, incident_id=reply.incident_id, user_id=caller.user_id, now=clock.utcnow()
            )
        card_sync.owe_refresh(runtime, reply.incident_id)
    reply.text = names.text(reply.text)
    return reply
