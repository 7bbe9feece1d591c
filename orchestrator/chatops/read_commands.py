"""The read-only `/ir` commands: the switch and open incidents, one incident's card, its timeline
(a page at a time, step noise hidden unless asked for).

Anyone the access rules admit may run them; they write nothing but their own timeline entry.
"""

from __future__ import annotations

from typing import Final

from orchestrator.chatops import card_apps, card_sync, cards, targets
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops.names import names_for
from orchestrator.chatops.replies import Caller, Reply
from orchestrator.errors import ValidationFailed
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports
from orchestrator.switch import service as switch
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["PAGE_SIZE", "STEP_NOISE", "open_incidents", "show_timeline", "status"]

PAGE_SIZE: Final = 15
STEP_NOISE: Final = frozenset(
    {
        kinds.STEP_STARTED,
        kinds.STEP_SUCCEEDED,
        kinds.STEP_RETRY,
        kinds.STEP_SKIPPED,
        kinds.REVOCATION_PROGRESS,
        slack_kinds.SLACK_COMMAND,
        slack_kinds.SLACK_POSTED,
    }
)
"""Kinds `/ir timeline` leaves out unless asked for ``all``: the machinery's bookkeeping (a failed
step, a finished run and every person's act stay in)."""


def status(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, _ = targets.incident_and_rest(runtime, caller.channel_id, raw)
    app_names = runtime.settings.app_names
    if incident_id is not None:
        with runtime.store.unit_of_work() as session:
            card = card_sync.card_state(session, incident_id, app_names=app_names)
        text, blocks = cards.incident_card(card, names_for(runtime.settings))
        return Reply(text, blocks, incident_id=incident_id)
    with runtime.store.unit_of_work() as session:
        board = switch.board(session, app_names)
        open_count = sum(1 for i in incidents.list_incidents(session) if i.status in incidents.OPEN_STATUSES)
    several = card_apps.shows_apps(app_names)
    state = board.all
    whom = "every app is" if several else "the app is"
    word = f"🛑 ENGAGED: {whom} disconnected from TikTok" if state.engaged else "🟢 released"
    lines = [f"Kill switch{' (all apps)' if several else ''}: {word}{_since(state)}"]
    if several:  # then each app's own switch, and whether the all-apps switch disconnects it
        lines += [
            f"• `{name}`: {card_apps.switch_text(own.engaged, state.engaged)}{_since(own)}"
            for name, own in board.apps.items()
        ]
    return Reply("\n".join(lines) + f"\nOpen incidents: {open_count} (`/ir list`)")


def _since(state: switch.SwitchState) -> str:
    """When and by whom a switch last changed (nothing for one never touched)."""
    return f" since {state.changed_at:%Y-%m-%d %H:%M:%S} UTC by {state.by}" if state.changed_at else ""


def open_incidents(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    with runtime.store.unit_of_work() as session:
        rows = [
            i for i in incidents.list_incidents(session, limit=200) if i.status in incidents.OPEN_STATUSES
        ]
        lines = [f"• `{i.id}` {i.severity} {i.status}: {i.title[:80]}" for i in rows[:20]]
    if not lines:
        return Reply("No open incidents.")
    more = f"\n…and {len(rows) - 20} more" if len(rows) > 20 else ""
    return Reply(f"*Open incidents ({len(rows)})*\n" + "\n".join(lines) + more)


def _timeline_options(given: str) -> tuple[int, bool]:
    """``[page N] [all]`` in any order: (page number, whether step noise is shown)."""
    words, number, everything = given.lower().split(), 1, False
    while words:
        word = words.pop(0)
        if word == "all":
            everything = True
        elif word == "page" and words and words[0].isdigit() and int(words[0]) > 0:
            number = int(words.pop(0))
        else:
            raise ValidationFailed(
                f"`{word[:30]}` is not an option: `/ir timeline [INCIDENT] [page N] [all]`, "
                "e.g. `/ir timeline page 2` in the incident's room"
            )
    return number, everything


def show_timeline(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, given = targets.incident_and_rest(runtime, caller.channel_id, raw)
    if incident_id is None:
        raise ValidationFailed("name the incident: `/ir timeline INCIDENT` (see `/ir list`), or use its room")
    number, everything = _timeline_options(given)
    names = names_for(runtime.settings)
    with runtime.store.unit_of_work() as session:
        entries, total = timeline.page(
            session, incident_id, number=number, size=PAGE_SIZE, without=() if everything else STEP_NOISE
        )
        shown = [(e.at, e.kind, e.message[:150], e.actor) for e in entries]
    lines = [f"`{at:%m-%d %H:%M:%S}` *{kind}* {names.text(m)} ({names.text(a)})" for at, kind, m, a in shown]
    pages = max(1, -(-total // PAGE_SIZE))
    which = "everything" if everything else "step noise hidden"
    head = f"*Timeline of {incident_id}*: page {number} of {pages}, {len(lines)} of {total} entries ({which})"
    more = " all" if everything else ""
    hints = [f"older: `/ir timeline {incident_id} page {number + 1}{more}`"] if number < pages else []
    if not everything:
        hints.append(f"with step noise: `/ir timeline {incident_id} page {number} all`")
    body = "\n".join(lines) or "_nothing on this page_"
    return Reply(f"{head}\n{body}\n" + " · ".join(hints), incident_id=incident_id)
