"""`/ir` commands: parse the text, check who may run it, call the flows, record it, and reply.

One handler serves the HTTP endpoint and Socket Mode. Every command (refused ones too) is a
timeline entry with the Slack user id as ``slack:<id>``; errors say what to type instead.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator import redaction
from orchestrator.chatops import card_sync, cards, lifecycle_commands, release, targets, updates
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops.access import OPEN_COMMANDS, Access
from orchestrator.chatops.people import StepPeople, step_people
from orchestrator.errors import NotFound, OrchestratorError, ValidationFailed
from orchestrator.incidents import service as incidents
from orchestrator.playbooks import flows as playbook_flows
from orchestrator.playbooks import manual
from orchestrator.playbooks import service as runs
from orchestrator.ports import Ports
from orchestrator.switch import flows as switch_flows
from orchestrator.switch import service as switch
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN

__all__ = ["USAGE", "Caller", "Reply", "handle_command", "record"]

_CURLY_QUOTES: Final = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
USAGE: Final = {
    "help": "`/ir help`: this list",
    "status": "`/ir status [INCIDENT]`: the kill switch and open incidents, or one incident's card",
    "list": "`/ir list`: open incidents",
    "run": "`/ir run PLAYBOOK [key=value ...] [incident=INCIDENT]`: start a playbook",
    "approve": "`/ir approve RUN STEP`: approve a step waiting for approval",
    "deny": "`/ir deny RUN STEP`: deny a step waiting for approval",
    "done": "`/ir done RUN STEP [VALUE]`: mark a manual step done (VALUE: its input, e.g. a ticket id)",
    "disconnect": "`/ir disconnect [INCIDENT] [REASON]`: engage the kill switch (stop all TikTok calls)",
    "release": "`/ir release REASON`: ask to release the kill switch (a second person approves)",
    "note": "`/ir note INCIDENT TEXT`: add a note to an incident's timeline",
    "declare": "`/ir declare TITLE [SEVERITY]`: open an incident by hand (default severity high)",
    "resolve": "`/ir resolve INCIDENT SUMMARY`: mark an incident resolved",
    "close": "`/ir close INCIDENT SUMMARY`: close a resolved incident",
    "update": "`/ir update INCIDENT TEXT`: a stakeholder update, to the room and the announcements channel",
    "timeline": "`/ir timeline INCIDENT`: an incident's latest timeline entries",
}


@dataclass(frozen=True)
class Caller:
    """Who sent the command and from where."""

    user_id: str
    channel_id: str | None = None

    @property
    def actor(self) -> str:
        return f"slack:{self.user_id}"


@dataclass
class Reply:
    """What Slack shows; ``public`` posts in the channel, else only the caller sees it."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    public: bool = False
    chain: str | None = field(default=None, repr=False)
    incident_id: str | None = field(default=None, repr=False)
    error: str | None = field(default=None, repr=False)  # set when the command was refused or failed

    def as_slack(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "response_type": "in_channel" if self.public else "ephemeral",
            "text": redaction.redact_text(self.text),
        }
        if self.blocks:
            body["blocks"] = redaction.redact(self.blocks)
        return body


def record(
    runtime: Ports, *, caller: Caller, kind: str, chain: str | None, message: str, data: dict[str, Any]
) -> None:
    """One timeline entry for a Slack action, with the Slack user id."""
    with runtime.transaction() as session:
        timeline.append_entry(
            session,
            chain=chain or SYSTEM_CHAIN,
            actor=caller.actor,
            kind=kind,
            message=message,
            data={"slack_user": caller.user_id, **data},
        )


def _words(text: str) -> list[str]:
    """Split ``/ir run`` inputs like a shell, so ``text="Legal informed, customers next"`` is one
    value (Slack's curly quotes count as quotes); an unclosed quote is a mistake to name. Only
    inputs: a note's "don't" must not open a quote."""
    try:
        return shlex.split(text.translate(_CURLY_QUOTES))
    except ValueError as exc:
        raise ValidationFailed(f'{exc}: close the quote, e.g. `text="two words"`') from None


def _help(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    lines = [USAGE[name] for name in USAGE]
    return Reply("*Incident response commands*\n" + "\n".join(lines))


def _status(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, _ = targets.incident_and_rest(runtime, caller.channel_id, raw)
    if incident_id is not None:
        with runtime.store.unit_of_work() as session:
            text, blocks = cards.incident_card(card_sync.card_state(session, incident_id))
        return Reply(text, blocks, incident_id=incident_id)
    with runtime.store.unit_of_work() as session:
        state = switch.status(session)
        open_count = sum(1 for i in incidents.list_incidents(session) if i.status in incidents.OPEN_STATUSES)
    word = "🛑 ENGAGED: the app is disconnected from TikTok" if state.engaged else "🟢 released"
    since = f" since {state.changed_at:%Y-%m-%d %H:%M:%S} UTC by {state.by}" if state.changed_at else ""
    return Reply(f"Kill switch: {word}{since}\nOpen incidents: {open_count} (`/ir list`)")


def _list(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    with runtime.store.unit_of_work() as session:
        rows = [
            i for i in incidents.list_incidents(session, limit=200) if i.status in incidents.OPEN_STATUSES
        ]
        lines = [f"• `{i.id}` {i.severity} {i.status}: {i.title[:80]}" for i in rows[:20]]
    if not lines:
        return Reply("No open incidents.")
    more = f"\n…and {len(rows) - 20} more" if len(rows) > 20 else ""
    return Reply(f"*Open incidents ({len(rows)})*\n" + "\n".join(lines) + more)


def _timeline(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, _ = targets.incident_and_rest(runtime, caller.channel_id, raw)
    if incident_id is None:
        raise ValidationFailed("name the incident: `/ir timeline INCIDENT` (see `/ir list`), or use its room")
    with runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, incident_id)[-15:]
        lines = [f"`{e.at:%H:%M:%S}` *{e.kind}* {e.message[:150]} ({e.actor})" for e in entries]
    return Reply(
        f"*Timeline of {incident_id}* (latest {len(lines)})\n" + "\n".join(lines), incident_id=incident_id
    )


def _run(runtime: Ports, caller: Caller, args: list[str], raw: str, access: Access) -> Reply:
    manual = sorted(n for n, p in runtime.playbooks.items() if p.trigger.manual is not None)
    allowed = access.allowed_playbooks(manual)
    if not args:
        raise ValidationFailed(
            f"name a playbook: `/ir run PLAYBOOK [key=value ...]`; you may run: {', '.join(allowed)}"
        )
    name, pairs = args[0], _words(raw)[2:]
    playbook = runtime.playbooks.get(name)
    if playbook is None or playbook.trigger.manual is None:
        raise NotFound(f"no manual playbook '{name}'; you may run: {', '.join(allowed) or 'none'}")
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationFailed(f"'{pair}' is not key=value: `/ir run {name} key=value ...`")
        inputs[key] = value
    incident_id = None
    if "incident" in inputs and "incident" not in playbook.inputs:
        incident_id = targets.incident_id(runtime, str(inputs.pop("incident")))
    else:  # typed in an incident's room: the run is about that incident
        incident_id = targets.room_incident(runtime, caller.channel_id)
    run_id = playbook_flows.start_manual_run(
        runtime.transaction,
        playbook=playbook,
        given_inputs=inputs,
        incident_id=incident_id,
        dry_run=False,
        actor=caller.actor,
    )
    return Reply(
        f"▶️ <@{caller.user_id}> started *{name}* as run `{run_id}`", public=True, incident_id=incident_id
    )


def _decide(runtime: Ports, caller: Caller, args: list[str], approve: bool, people: StepPeople) -> Reply:
    verb = "approve" if approve else "deny"
    if len(args) != 2:
        raise ValidationFailed(f"`/ir {verb} RUN STEP`, e.g. `/ir {verb} run-1a2b3c4d5e6f disconnect`")
    with runtime.store.unit_of_work() as session:
        run = runs.get_run(session, run_id=args[0])
        run_id, incident_id = run.id, run.incident_id
    playbook_flows.decide_approval(
        runtime.transaction,
        run_id=run_id,
        step_id=args[1],
        approve=approve,
        actor=caller.actor,
        groups=people.groups,
    )
    word = "approved ✅" if approve else "denied ❌"
    return Reply(
        f"<@{caller.user_id}> {word} step `{args[1]}` of `{run_id}`", public=True, incident_id=incident_id
    )


def _done(runtime: Ports, caller: Caller, raw: str, people: StepPeople) -> Reply:
    parts = raw.split(None, 3)
    if len(parts) < 3:
        raise ValidationFailed(
            "`/ir done RUN STEP [VALUE]`, e.g. `/ir done run-1a2b3c4d5e6f file_tiktok_report TT-48213`"
        )
    value = parts[3].strip() if len(parts) > 3 else ""
    with runtime.store.unit_of_work() as session:
        run = runs.get_run(session, run_id=parts[1])
        params = manual.params_of(run, parts[2])
        run_id, incident_id = run.id, run.incident_id
    if params.input and not value:
        raise ValidationFailed(
            f"step `{parts[2]}` needs its {params.input}: `/ir done {run_id} {parts[2]} VALUE`"
        )
    inputs = {params.input or "note": value} if value else {}
    playbook_flows.complete_manual_step(
        runtime.transaction,
        run_id=run_id,
        step_id=parts[2],
        actor=caller.actor,
        inputs=inputs,
        groups=people.groups,
    )
    shown = f" ({params.input} {value})" if params.input else ""
    return Reply(
        f"✅ <@{caller.user_id}> completed `{parts[2]}` of `{run_id}`: {params.title}{shown}",
        public=True,
        incident_id=incident_id,
    )


def _disconnect(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
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
    )


def _release(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
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


def _note(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
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
    return Reply(f"📝 Noted on `{incident_id}`.", incident_id=incident_id)


def _declare(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    title, severity = lifecycle_commands.declare(runtime, caller.actor, raw)
    opens = "its incident opens in a moment: `/ir list`"
    return Reply(f"🆕 <@{caller.user_id}> declared *{title}* ({severity}); {opens}.", public=True)


def _end(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    verb = raw.split(None, 1)[0].lower()
    incident_id = lifecycle_commands.end(runtime, verb, caller.actor, caller.channel_id, raw)
    word = "✅ <@{}> resolved" if verb == "resolve" else "🔒 <@{}> closed"
    return Reply(f"{word.format(caller.user_id)} `{incident_id}`.", public=True, incident_id=incident_id)


def _update(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, text, refused = updates.post_update(
        runtime, actor=caller.actor, user_id=caller.user_id, channel_id=caller.channel_id, raw=raw
    )
    missed = f"\n⚠️ Slack refused it in {', '.join(f'<#{c}>' for c in refused)}." if refused else ""
    return Reply(
        f"📣 <@{caller.user_id}> on `{incident_id}`: {text}{missed}", public=True, incident_id=incident_id
    )


Handler = Callable[[Ports, Caller, list[str], str], Reply]
_HANDLERS: dict[str, Handler] = {
    "help": _help,
    "status": _status,
    "list": _list,
    "timeline": _timeline,
    "disconnect": _disconnect,
    "release": _release,
    "note": _note,
    "declare": _declare,
    "resolve": _end,
    "close": _end,
    "update": _update,
}


def _named_incident(command: str, args: list[str]) -> str | None:
    if (
        command in ("status", "timeline", "note", "disconnect", "resolve", "close", "update")
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
    if not (access.may_run(caller.user_id, command) or people.admit(caller.actor)) or (
        command == "run" and args and args[0] in runtime.playbooks and not access.may_start(args[0])
    ):
        what = (
            f"run playbook {args[0]}"
            if command == "run" and access.may_run(caller.user_id, command)
            else command
        )
        record(
            runtime,
            caller=caller,
            kind=slack_kinds.SLACK_REFUSED,
            chain=named,
            message=f"{caller.actor} was refused `/ir {command}`: not authorised",
            data={"command": command, "args": shown_args, "reason": "not authorised"},
        )
        named_here = f" Step `{args[1]}` is for {', '.join(people.names)}." if people.names else ""
        return Reply(
            f"⛔ You are not allowed to {what}.{named_here} Ask an incident commander, or use "
            f"{', '.join(f'`/ir {c}`' for c in sorted(OPEN_COMMANDS))}.",
            error="not authorised",
        )
    try:
        if command == "run":
            reply = _run(runtime, caller, args, text, access)
        elif command in ("approve", "deny"):
            reply = _decide(runtime, caller, args, command == "approve", people)
        elif command == "done":
            reply = _done(runtime, caller, text, people)
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
    if reply.incident_id and command not in OPEN_COMMANDS:
        card_sync.refresh_card(runtime, reply.incident_id)
    return reply
