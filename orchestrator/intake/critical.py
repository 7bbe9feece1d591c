"""Critical first: the intake engages the kill switch for an event that would engage it, in the
commit that makes the event durable, so a disconnect never waits behind a backlog of alerts.

Events are correlated first in, first out, and must be: the events of one incident go in the
order accepted. During a storm a critical alert would therefore wait for every alert before it
(seconds), although the disconnect needs nothing the backlog holds: the switch is one row. So the
intake engages it exactly when the worker will, on correlating the event: a playbook matches the
event and its first step engages the switch with no condition or approval, and the event opens an
incident or raises one's severity to a playbook that has not run on it yet. The worker's step then
finds the switch engaged and records it on the incident, whose ``disconnected_at`` is the moment
the intake engaged it (``switch/service.engage``). A switch a person released for an incident
already handled stays released, as it would without this lane.

It engages the switches the worker's step will (``incidents.apps``): those of the apps the event
names (and the incident it escalates concerns), or the all-apps switch when they are every app.
An engaged all-apps switch costs one statement, as before; an app's, one more each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.actions.tiktok import KillSwitchAction
from orchestrator.config import Settings
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.incidents import apps as incident_apps
from orchestrator.incidents import flows as incident_flows
from orchestrator.incidents import service as incidents
from orchestrator.playbooks.models import RunRow
from orchestrator.playbooks.schemas import ParallelBlock, Playbook, Step
from orchestrator.switch import flows as switch_flows
from orchestrator.switch import service as switch

__all__ = ["CriticalFirst", "Rehearsed"]

BY = "intake"
"""Who the switch row names when the intake engaged it."""


class Rehearsed(Exception):
    """Ends the start-up rehearsal (``CriticalFirst.rehearse``): its transaction rolls back."""


def _first_switch_steps(book: Playbook) -> list[Step]:
    """The switch steps ``book`` starts with (its first step, or those of its first parallel block)."""
    first = book.steps[0]
    starting = first.steps if isinstance(first, ParallelBlock) else (first,)
    return [step for step in starting if step.action == KillSwitchAction.name]


def _engaging(playbooks: Mapping[str, Playbook]) -> tuple[tuple[str, Playbook], ...]:
    """The playbooks that engage the switch as soon as they start (a switch step they start
    with, with no ``when`` or approval), by name: found once, not for every storm request."""
    return tuple(
        (name, playbooks[name])
        for name in sorted(playbooks)
        if any(step.when is None and step.approval is None for step in _first_switch_steps(playbooks[name]))
    )


def _first_match(
    event: CompromiseEvent, engaging: Sequence[tuple[str, Playbook]]
) -> tuple[str, Playbook] | None:
    """The first of ``engaging`` that ``event`` starts, by name; None when none does."""
    if event.status != "firing":
        return None  # a resolved signal starts no playbook
    return next(((name, book) for name, book in engaging if book.matches(event)), None)


class CriticalFirst:
    """``(session, events, now)``: engage the switch in the intake's transaction when one of
    ``events`` would have its playbook engage it (see the module docstring)."""

    def __init__(self, settings: Settings, playbooks: Mapping[str, Playbook]) -> None:
        self._settings = settings
        # Sorted and filtered once: ``urgent`` runs on the event loop for every request of a storm.
        self._engaging = _engaging(playbooks)

    def urgent(self, events: Sequence[CompromiseEvent]) -> bool:
        """Whether ``events`` hold one that engages the switch (the writer commits them first)."""
        return any(_first_match(event, self._engaging) for event in events)

    def __call__(self, session: Session, events: Sequence[CompromiseEvent], now: datetime) -> None:
        due = [(event, found) for event in events if (found := _first_match(event, self._engaging))]
        if not due or switch.status(session).engaged:
            return  # a batch of alerts costs no statement; an engaged all-apps switch, one
        engaged: set[str | None] = set()
        for event, (name, book) in due:
            starts, apps = self._starts(session, event, name, now)
            if not starts:
                continue
            named = incident_apps.concerned(event.entities.client_keys, self._settings)
            apps = incident_apps.union(apps, named, self._settings)
            if any(step.with_.get("apps") == "all" for step in _first_switch_steps(book)):
                apps = None  # the playbook engages the all-apps switch whatever the apps
            reason = f"critical first, playbook {name}: {event.severity} {event.kind}: {event.title}"
            for app in incident_apps.switches(apps):
                if app in engaged or (app is not None and switch.status(session, app=app).engaged):
                    continue
                switch_flows.engage_in(session, self._settings, by=BY, reason=reason, app=app)
                engaged.add(app)
            if None in engaged:
                return

    def rehearse(self, session: Session, events: Sequence[CompromiseEvent], now: datetime) -> None:
        """A critical event's commit at start-up, rolled back (``Rehearsed``): the statements of
        ``__call__`` (the switch read, the incident reads, the switch row's update and the timeline
        entry) are compiled and cached and the first real event is not the slow one. No mirror
        hears of it."""
        switch.status(session)
        for event in events:
            self._starts(session, event, "", now)
        switch_flows.engage_in(session, self._settings, by=BY, reason="start-up rehearsal", mirrors=())
        session.flush()  # the timeline entry's INSERT, which the commit would send
        raise Rehearsed

    def _starts(
        self, session: Session, event: CompromiseEvent, playbook: str, now: datetime
    ) -> tuple[bool, list[str] | None]:
        """Whether correlating ``event`` will start ``playbook``: it opens an incident, or raises
        the severity of one that ``playbook`` has not run on (the worker's rule, read unlocked);
        and the apps that incident concerns already (``[]`` for a new one)."""
        key = incidents.correlation_key(session, dedup_key=event.dedup_key)
        window = self._settings.correlation_window_seconds
        incident = incident_flows.still_fed(session, key, now, window, lock=False)
        if incident is None:
            return True, []
        if event.severity.rank <= Severity(incident.severity).rank:
            return False, incident.apps
        once_key = f"{incident.id}:{playbook}"
        return session.scalar(select(RunRow.id).where(RunRow.once_key == once_key)) is None, incident.apps
