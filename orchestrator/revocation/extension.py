"""A revocation of the apps its incident concerns takes in an app the incident extends to before
it finishes, so a token of that app is revoked by the step that was revoking the incident's.

The incident learns of the app in the commit that correlates the event naming its client key
(``incidents/apps.extend``), which owes an ``incident.extended`` row; the revocation queue's
worker then adds the app to each unfinished revocation following the incident and plans that
app's tokens into it (``flows.take_in_apps``). A revocation about to finish checks the incident's
apps too (``take_in``, under the lock that orders it against that commit), so an extension that
came between the step's reading of the apps and the revocation's creation is not lost either.
Each token is still sent once: the one ledger is keyed by app and fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from orchestrator.config import Settings
from orchestrator.incidents import news
from orchestrator.incidents.apps import EXTENDED
from orchestrator.incidents.models import IncidentRow
from orchestrator.revocation.models import RevocationRow
from orchestrator.revocation.story import note
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store import outbox
from orchestrator.timeline import kinds

__all__ = ["add_apps", "missing", "take_in"]


def missing(session: Session, row: RevocationRow, *, settings: Settings) -> list[str]:
    """The apps the incident of ``row`` (a revocation following it) concerns and ``row`` lacks,
    in the configuration's order. The incident is locked (FOR NO KEY UPDATE), after the
    revocation, as when a revocation finishes."""
    if not row.follows_incident or not row.incident_id:
        return []
    incident = session.get(IncidentRow, row.incident_id, with_for_update={"key_share": True})
    if incident is None:
        return []
    names = settings.app_names
    wanted = names if incident.apps is None else [name for name in names if name in incident.apps]
    have = set(row.apps or [DEFAULT_APP])
    return [name for name in wanted if name not in have]


def add_apps(
    session: Session, row: RevocationRow, added: Sequence[str], *, settings: Settings, now: datetime
) -> None:
    """Add ``added`` to the revocation ``row`` (locked): it is not planned in full again until
    they are, and its timeline says which apps (by client key) it now revokes."""
    row.apps = [*(row.apps or [DEFAULT_APP]), *added]
    row.plan_done = False
    apps = [settings.app(name) for name in added]
    note(
        session,
        row,
        kind=kinds.REVOCATION_PROGRESS,
        message="Revocation extends to "
        + ", ".join(f"app {app.name} (client key {app.client_key})" for app in apps)
        + ": the incident concerns it now",
        data={
            "revocation_id": row.id,
            "extended": {app.name: {"client_key": app.client_key} for app in apps},
        },
        at=now,
    )
    if row.incident_id:
        news.changed(session, incident_id=row.incident_id, at=now)


def take_in(session: Session, row: RevocationRow, *, settings: Settings, now: datetime) -> bool:
    """Before the revocation ``row`` (locked) finishes: take in the apps its incident concerns
    and it lacks, their planning owed to a worker (``incident.extended``); True when it took one
    in, so it does not finish yet."""
    added = missing(session, row, settings=settings)
    if not added:
        return False
    add_apps(session, row, added, settings=settings, now=now)
    outbox.enqueue(session, topic=EXTENDED, ref_id=str(row.incident_id), now=now)
    return True
