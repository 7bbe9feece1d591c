"""News for the people following an incident: an outbox row written with the fact it reports.

A run that finished or failed, a step waiting for a person, a decision, a reminder: each is told
as a row of topic ``NEWS`` in the transaction that records the fact, so a worker killed after
the commit loses none, and nothing waits on the chat: the chat side (``chatops/room_news.py``)
posts it to the incident's room afterwards, or drops it when there is no room. The row holds
ids and the fact's time, never the words: the chat side reads the state and phrases it.

A change that needs no words, only a fresher view of the incident (a revocation's progress, its
end), is owed as a row of topic ``CHANGED``: the chat side refreshes the incident's card. The
worker revoking tokens never waits on Slack for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from sqlalchemy.orm import Session

from orchestrator.store import outbox

__all__ = ["CHANGED", "NEWS", "News", "changed", "tell"]

NEWS: Final = "incident.news"
CHANGED: Final = "incident.changed"

News = Literal[
    "run.finished",
    "approval.requested",
    "approval.decided",
    "manual.requested",
    "manual.reminder",
    "manual.completed",
    "said",
]
"""What happened: a run ended; an approval or a manual step was asked for, decided or done, or
is overdue (a reminder); ``said``: a reply to a command about the incident, typed elsewhere."""


def tell(session: Session, *, incident_id: str | None, what: News, at: datetime, **facts: str | None) -> None:
    """Owe the incident's followers the news ``what`` (nothing for a run with no incident)."""
    if incident_id is None:
        return
    payload: dict[str, str | None] = {"what": what, "at": at.isoformat(), **facts}
    outbox.enqueue(session, topic=NEWS, ref_id=incident_id, now=at, payload=payload)


def changed(session: Session, *, incident_id: str, at: datetime) -> None:
    """Owe the incident's followers a fresher view of it (its card), after what this commit changed."""
    outbox.enqueue(session, topic=CHANGED, ref_id=incident_id, now=at)
