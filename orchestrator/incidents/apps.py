"""The TikTok apps an incident concerns, from its events' ``entities.client_keys``.

An event concerns the configured apps whose client key it names. One naming no client key, or
only keys no configured app has, concerns every app: a key the orchestrator does not know cannot
narrow a disconnect, so it fails safe (the key stays on the timeline with the event's entities).
The incident records the apps (``IncidentRow.apps``; None: every app, which is also what naming
every configured app comes to, so a single-app deployment only ever has None). A later event
naming another app extends the incident to it, with a timeline entry; when the incident was
already disconnected (``disconnected_at``), that app's switch is engaged in the same commit, so
a switch step that ran before the incident learnt of the app does not leave it connected, and
owes an ``incident.extended`` row: the revocation queue's worker takes the app into the
incident's revocation still running (``revocation/flows.take_in_apps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from orchestrator.config import Settings
from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.store import outbox
from orchestrator.switch import flows as switch_flows
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["EXTENDED", "concerned", "extend", "switches", "union"]

EXTENDED = "incident.extended"
"""Outbox topic (ref: the incident): the incident concerns more apps than before."""


def concerned(client_keys: Sequence[str], settings: Settings) -> list[str] | None:
    """The names of the configured apps ``client_keys`` names, in the configuration's order;
    None (every app) when it names none of them, or all of them."""
    named = set(client_keys)
    apps = settings.apps
    found = [app.name for app in apps if app.client_key and app.client_key in named]
    return None if not found or len(found) == len(apps) else found


def union(first: list[str] | None, second: list[str] | None, settings: Settings) -> list[str] | None:
    """The apps of both (None: every app)."""
    if first is None or second is None:
        return None
    both = set(first) | set(second)
    names = settings.app_names
    return None if both >= set(names) else [name for name in names if name in both]


def switches(apps: list[str] | None) -> list[str | None]:
    """The switches to engage for ``apps``: each app's, or the all-apps switch (None)."""
    return [None] if apps is None else list(apps)


def extend(
    session: Session,
    incident: IncidentRow,
    event: EventRow,
    *,
    opened: bool,
    settings: Settings | None,
    now: datetime,
) -> None:
    """Record the apps ``event`` of ``incident`` concerns: all of them when it opened it, else
    those it adds (a timeline entry, and their switches when the incident is disconnected).
    Without ``settings`` (no apps known) the incident concerns every app."""
    if settings is None:
        return
    client_keys = (event.entities or {}).get("client_keys") or []
    named = concerned(client_keys, settings)
    if opened:
        incident.apps = named
        return
    if incident.apps is None:
        return  # every app already
    apps = union(incident.apps, named, settings)
    added = None if apps is None else [name for name in apps if name not in incident.apps]
    if added == []:
        return
    incident.apps = apps
    which = "every app" if added is None else "app " + ", ".join(added)
    timeline.append_entry(
        session,
        chain=incident.id,
        actor=f"source:{event.source}",
        kind=kinds.INCIDENT_EXTENDED,
        message=f"Incident extends to {which}",
        data={
            "apps": "all" if added is None else added,
            "client_keys": list(client_keys),
            "event_id": event.id,
        },
        at=now,
    )
    outbox.enqueue(session, topic=EXTENDED, ref_id=incident.id, now=now)
    if incident.disconnected_at is None:
        return  # its playbook's switch step, still to run, reads the apps then
    for app in switches(added):
        switch_flows.engage_in(
            session,
            settings,
            by="orchestrator",
            reason=f"incident {incident.id} extends to {which}",
            app=app,
            incident_id=incident.id,
        )
