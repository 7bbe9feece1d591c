"""Which incident an `/ir` command is about: the one it names first, else the room's."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.chatops.models import SlackRoomRow
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports

__all__ = ["incident_and_rest", "incident_id", "room_incident"]


def room_incident(runtime: Ports, channel_id: str | None) -> str | None:
    """The incident whose room ``channel_id`` is, if any."""
    if not channel_id:
        return None
    with runtime.store.unit_of_work() as session:
        return session.scalar(select(SlackRoomRow.incident_id).where(SlackRoomRow.channel_id == channel_id))


def incident_id(runtime: Ports, given: str) -> str:
    """``given`` checked against the store (NotFound names it)."""
    with runtime.store.unit_of_work() as session:
        return incidents.get_incident(session, incident_id=given).id


def incident_and_rest(runtime: Ports, channel_id: str | None, raw: str) -> tuple[str | None, str]:
    """The incident a command names first (``inc-...``), else the one whose room it is typed in
    (none elsewhere); and the rest of the command's text."""
    rest = raw.split(None, 1)[1].strip() if len(raw.split(None, 1)) > 1 else ""
    first, _, after = rest.partition(" ")
    if first.startswith("inc-"):
        return incident_id(runtime, first), after.strip()
    return room_incident(runtime, channel_id), rest
