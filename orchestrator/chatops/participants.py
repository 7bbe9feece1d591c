"""Who takes part in an incident: the people invited to its room, its lead, those who acted.

Rows are added, never removed (a person who was involved stays involved); the lead moves with
``/ir lead``. A concurrent insert of the same person loses to the first and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.chatops.models import ParticipantRow
from orchestrator.incidents import service as incidents
from orchestrator.ports import Ports

__all__ = ["ACTED", "INVITED", "LEAD", "Roster", "add", "note_acted", "roster", "set_lead"]

INVITED: Final = "invited"
ACTED: Final = "acted"
LEAD: Final = "lead"


@dataclass(frozen=True)
class Roster:
    """An incident's people: its lead (a Slack user id, or None) and everyone involved, by arrival."""

    lead: str | None = None
    involved: tuple[str, ...] = ()

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.involved


def add(session: Session, *, incident_id: str, user_ids: Iterable[str], joined: str, now: datetime) -> None:
    """Record ``user_ids`` as involved in ``incident_id`` (those already there keep their row)."""
    wanted = list(dict.fromkeys(u for u in user_ids if u))
    known = set(
        session.scalars(
            select(ParticipantRow.user_id).where(
                ParticipantRow.incident_id == incident_id, ParticipantRow.user_id.in_(wanted)
            )
        )
    )
    for user_id in wanted:
        if user_id not in known:
            session.add(
                ParticipantRow(incident_id=incident_id, user_id=user_id, joined=joined, lead=False, since=now)
            )


def set_lead(session: Session, *, incident_id: str, user_id: str, now: datetime) -> str | None:
    """Make ``user_id`` the incident's lead (involved from now on if not yet); the previous lead.
    The incident's row lock keeps two lead changes from both winning."""
    incidents.get_incident(session, incident_id=incident_id, for_update=True)
    rows = list(session.scalars(select(ParticipantRow).where(ParticipantRow.incident_id == incident_id)))
    previous = next((r.user_id for r in rows if r.lead), None)
    for row in rows:
        row.lead = row.user_id == user_id
    if all(r.user_id != user_id for r in rows):
        session.add(
            ParticipantRow(incident_id=incident_id, user_id=user_id, joined=LEAD, lead=True, since=now)
        )
    return previous


def roster(session: Session, incident_id: str) -> Roster:
    rows = list(
        session.scalars(
            select(ParticipantRow)
            .where(ParticipantRow.incident_id == incident_id)
            .order_by(ParticipantRow.since, ParticipantRow.user_id)
        )
    )
    lead = next((r.user_id for r in rows if r.lead), None)
    return Roster(lead=lead, involved=tuple(r.user_id for r in rows))


def note_acted(runtime: Ports, *, incident_id: str, user_id: str, now: datetime) -> None:
    """``user_id`` acted on the incident from Slack: involved from now on. A row another process
    wrote first is as good as this one."""
    try:
        with runtime.store.unit_of_work() as session:
            add(session, incident_id=incident_id, user_ids=[user_id], joined=ACTED, now=now)
    except IntegrityError:
        return
