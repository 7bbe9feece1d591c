"""The read-only `/ir` commands: the switch and open incidents, one incident's card, its timeline.

Anyone the access rules admit may run them; they write nothing but their own timeline entry.
"""

from __future__ import annotations

from orchestrator.chatops import card_sync, cards, targets
from orchestrator.chatops.replies import Caller, Reply
from orchestrator.errors import ValidationFailed
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports
from orchestrator.switch import service as switch
from orchestrator.timeline import service as timeline

__all__ = ["open_incidents", "show_timeline", "status"]


def status(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
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


def show_timeline(runtime: Ports, caller: Caller, args: list[str], raw: str) -> Reply:
    incident_id, _ = targets.incident_and_rest(runtime, caller.channel_id, raw)
    if incident_id is None:
        raise ValidationFailed("name the incident: `/ir timeline INCIDENT` (see `/ir list`), or use its room")
    with runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, incident_id)[-15:]
        lines = [f"`{e.at:%H:%M:%S}` *{e.kind}* {e.message[:150]} ({e.actor})" for e in entries]
    return Reply(
        f"*Timeline of {incident_id}* (latest {len(lines)})\n" + "\n".join(lines), incident_id=incident_id
    )
