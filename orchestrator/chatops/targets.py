"""Which incident an `/ir` command is about (the one it names first, else the room's), and which
TikTok app (``app=NAME``)."""

from __future__ import annotations

import re
from typing import Final

from sqlalchemy import select

from orchestrator.chatops.models import SlackRoomRow
from orchestrator.errors import ValidationFailed
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports

__all__ = ["app_and_rest", "incident_and_rest", "incident_id", "room_incident"]


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


_APP_MARK: Final = re.compile(
    r"(?:app[=:](?P<joined>\S*)|--app(?:\s+(?P<spaced>\S+))?)(?:\s+(?P<rest>.*))?", re.DOTALL | re.IGNORECASE
)
"""An app named first: ``app=NAME``, ``app:NAME`` or, as on the command line, ``--app NAME``.
Only a mark names an app: a reason that happens to begin with an app's name stays a reason."""


def app_and_rest(text: str) -> tuple[str | None, str]:
    """The app ``text`` names first with ``_APP_MARK`` (None: none) and the rest of it; whether the
    app is configured is the switch's to say (``switch.flows.require_app``)."""
    found = _APP_MARK.fullmatch(text.strip())
    if found is None:
        return None, text.strip()
    app = found.group("joined") or found.group("spaced")
    if not app:
        raise ValidationFailed("name the app: `app=NAME` (`/ir status` lists the apps)")
    return app, (found.group("rest") or "").strip()
