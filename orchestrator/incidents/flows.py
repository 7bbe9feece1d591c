"""The story of an event after intake: correlate it into an incident and record it.

Event storms are bounded here: the first few events of an incident each get a
timeline entry, after that only escalations and resolved signals do, and the
incident's ``event_count`` keeps the true total. A worker that correlates a message also takes
the owed events in the outbox rows after it (``STORM_BATCH`` rows; on SQLite up to
``SQLITE_CLAIM`` rows in all) in the same commit: a storm's events all update one incident row,
so one message at a time they queue on its lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from orchestrator import clock
from orchestrator.config import Settings
from orchestrator.events.accept import EVENT_TOPIC
from orchestrator.events.models import EventRow
from orchestrator.events.schemas import Severity
from orchestrator.incidents import apps, news
from orchestrator.incidents import service as incidents
from orchestrator.incidents.models import CorrelationKey, IncidentRow
from orchestrator.logging import bind_ids, get_logger
from orchestrator.playbooks import flows as playbook_flows
from orchestrator.playbooks.flows import Transaction
from orchestrator.playbooks.schemas import Playbook
from orchestrator.store import outbox
from orchestrator.store.db import intake_waiting
from orchestrator.store.outbox import OutboxRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

if TYPE_CHECKING:
    from orchestrator.playbooks.inline import InlineSteps

__all__ = [
    "EVENTS_RECORDED_IN_FULL",
    "Correlation",
    "correlate_event",
    "process_received_events",
    "still_fed",
]

log = get_logger(__name__)

EVENTS_RECORDED_IN_FULL = 10
"""Events of one incident recorded one entry each before the rest are only counted."""

SQLITE_WRITE_BUDGET = 0.01
"""Seconds a correlation transaction may hold SQLite's one write lock before it commits and goes
on in another: the intake waits for that lock to answer its senders. It commits sooner, after
``SQLITE_MIN_EVENTS``, when the intake is waiting (``store.db.intake_waiting``)."""

SQLITE_MIN_EVENTS = 8
"""Events a correlation transaction correlates before it lets a waiting intake in (the budget
still ends it sooner). A commit's claims, locks and commit cost about as much as eight events:
with no floor, under sustained load the intake waited almost always and most commits carried one
event; with eight the worker correlates more events a second and the intake's latency is no
worse (the intake benchmark, docs/benchmarks.md)."""

SQLITE_CLAIM = 32
"""Outbox rows a correlation transaction claims at most on SQLite (the budget usually ends it first)."""

_CLAIMED = (
    select(OutboxRow, EventRow)
    .options(defer(EventRow.raw))
    .outerjoin(EventRow, EventRow.id == OutboxRow.ref_id)
    .where(OutboxRow.topic == EVENT_TOPIC, OutboxRow.done_at.is_(None))
    .order_by(OutboxRow.id)
)
"""Owed event rows with their events, in id order (one lock order for every worker), read in one
statement; the raw body (an alert group's can be large) only on demand."""

STORM_BATCH = 200
"""Outbox rows after its message in which a worker (on PostgreSQL) correlates the owed events too."""


@dataclass(frozen=True)
class Correlation:
    """What correlating one event did."""

    incident_id: str
    opened: bool
    escalated: bool
    reaches: bool = False  # firing and at least as severe as the incident was: playbooks may start


def correlate_event(
    session: Session, *, event: EventRow, now: datetime, window_seconds: int, settings: Settings | None = None
) -> Correlation:
    """Attach ``event`` to the open incident of its dedup key, or open one; note its apps (``apps``)."""
    key = incidents.correlation_key(session, dedup_key=event.dedup_key)
    incident = still_fed(session, key, now, window_seconds)
    opened = incident is None
    if incident is None:
        incident = incidents.open_incident(session, event=event, now=now)
        timeline.new_chain(session, incident.id)
        if key is None:
            incidents.add_correlation_key(
                session, dedup_key=event.dedup_key, incident_id=incident.id, now=now
            )
        else:
            key.incident_id = incident.id
    if key is not None:
        key.last_seen_at = now
    previous_severity = incident.severity
    escalated = incidents.attach_event(session, incident=incident, event=event, now=now)
    actor = f"source:{event.source}"
    apps.extend(session, incident, event, opened=opened, settings=settings, now=now)
    resolved = event.status == "resolved"
    if resolved or incident.event_count <= EVENTS_RECORDED_IN_FULL:
        timeline.append_entry(  # when it arrived, before the incident it opens: not when correlated
            session,
            chain=incident.id,
            actor=actor,
            kind=kinds.EVENT_RESOLVED if resolved else kinds.EVENT_RECEIVED,
            message=f"Source reports resolved: {event.title} (recorded; the incident stays open)"
            if resolved
            else f"Event received from {event.source}: {event.title}",
            data=_event_data(event),
            at=event.received_at,
        )
    if opened:
        timeline.append_entry(
            session,
            chain=incident.id,
            actor=actor,
            kind=kinds.INCIDENT_OPENED,
            message=f"Incident opened: {event.title}",
            data={
                "severity": event.severity,
                "kind": event.kind,
                "dedup_key": event.dedup_key,
                "aware_at": incident.aware_at.isoformat(),
                "apps": incident.apps or "all",
            },
            at=now,
        )
    if escalated:
        timeline.append_entry(
            session,
            chain=incident.id,
            actor=actor,
            kind=kinds.INCIDENT_ESCALATED,
            message=f"Severity raised from {previous_severity} to {incident.severity}",
            data={"from": previous_severity, "to": incident.severity, "event_id": event.id},
            at=now,
        )
        news.changed(session, incident_id=incident.id, at=now)  # its card shows the new severity
    reaches = event.status == "firing" and Severity(event.severity).rank >= Severity(previous_severity).rank
    return Correlation(incident_id=incident.id, opened=opened, escalated=escalated, reaches=reaches)


def still_fed(
    session: Session, key: CorrelationKey | None, now: datetime, window_seconds: int, *, lock: bool = True
) -> IncidentRow | None:
    """The incident ``key`` still feeds (seen within the window, not yet resolved), locked unless
    ``lock`` is off (the intake only asks); None when its next event opens a new incident."""
    if key is None or key.last_seen_at < now - timedelta(seconds=window_seconds):
        return None
    incident = incidents.get_incident(session, incident_id=key.incident_id, for_update=lock)
    return incident if incident.status in incidents.OPEN_STATUSES else None


def _event_data(event: EventRow) -> dict[str, object]:
    return {
        "event_id": event.id,
        "source": event.source,
        "kind": event.kind,
        "severity": event.severity,
        "observed_at": event.observed_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "entities": event.entities,
        "source_ref": event.source_ref,
    }


def _correlate_one(
    session: Session,
    row: OutboxRow,
    event: EventRow,
    now: datetime,
    window_seconds: int,
    playbooks: Mapping[str, Playbook],
    inline: InlineSteps | None,
    settings: Settings | None,
    known: set[str],
) -> Correlation:
    result = correlate_event(session, event=event, now=now, window_seconds=window_seconds, settings=settings)
    # Not only when it opened or raised the incident: a person may have raised it first (`/ir
    # severity critical`), and the critical event that follows must still start what matches it.
    # A storm's repeats at the incident's level pass here too: the severity check and the runs
    # this transaction already knows (``known``) keep them free of statements.
    if result.reaches and (result.opened or result.escalated or _severe_enough(event, playbooks)):
        due = playbook_flows.unstarted(event, playbooks, incident_id=result.incident_id, known=known)
        if due:
            incident = incidents.get_incident(session, incident_id=result.incident_id, for_update=True)
            playbook_flows.start_matching_runs(
                session, incident=incident, event=event, playbooks=due, now=now, inline=inline, known=known
            )
    outbox.complete(row, now)
    return result


def _severe_enough(event: EventRow, playbooks: Mapping[str, Playbook]) -> bool:
    """Whether some playbook's trigger admits the event's severity (before reading anything)."""
    severity = Severity(event.severity)
    return any(
        book.trigger.match is not None
        and (book.trigger.match.min_severity is None or severity.at_least(book.trigger.match.min_severity))
        for book in playbooks.values()
    )


def _claim(session: Session, outbox_ids: Sequence[int]) -> list[tuple[OutboxRow, EventRow | None]]:
    """Lock the message's owed rows for this transaction and read their events with them; rows
    already done (a redelivery) are not returned. A row another worker holds is waited for: it may
    roll back, and then this message must do it."""
    query = _CLAIMED.where(OutboxRow.id.in_(outbox_ids))
    return [(row, event) for row, event in session.execute(query.with_for_update(of=OutboxRow))]


def _owed_after(session: Session, after: int, reach: int) -> list[tuple[OutboxRow, EventRow | None]]:
    """Owed events among the ``reach`` outbox rows after ``after``, oldest first, claimed for this
    transaction (rows another worker holds are skipped; their broker messages find them done).

    Under load the intake's next messages are exactly these rows: correlating them now, with the
    message in hand, spreads one transaction's fixed cost (claims, locks, tails, commit) over many
    events, and a storm's owed events of one key go in one commit instead of queueing one message
    at a time on the incident's lock. A range of the primary key: bounded however long the backlog.
    """
    query = _CLAIMED.where(OutboxRow.id > after, OutboxRow.id <= after + reach)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(of=OutboxRow, skip_locked=True)
    return [(row, event) for row, event in session.execute(query)]


def _chains_appended(
    session: Session, claimed: Sequence[tuple[OutboxRow, EventRow]], now: datetime, window_seconds: int
) -> list[str]:
    """The incidents whose timelines correlating ``claimed`` may append to, so their tails are
    locked and read together: those still recording events in full, and those a resolved signal
    or a higher severity reaches. Past its first events a storm's incident is only counted, and
    reading its tail for every message cost two statements of the worker's dozen. An incident
    opened here starts a new chain; a chain missed here is read when its first entry is."""
    chains: set[str] = set()
    for _, event in claimed:
        key = incidents.correlation_key(session, dedup_key=event.dedup_key)
        incident = still_fed(session, key, now, window_seconds)
        if incident is None:
            continue  # it opens a new incident
        if (
            incident.event_count < EVENTS_RECORDED_IN_FULL
            or event.status == "resolved"
            or Severity(event.severity).rank > Severity(incident.severity).rank
        ):
            chains.add(incident.id)
    return sorted(chains)


def process_received_events(
    transaction: Transaction,
    *,
    outbox_ids: Sequence[int],
    window_seconds: int,
    playbooks: Mapping[str, Playbook],
    inline: InlineSteps | None = None,
    settings: Settings | None = None,
) -> list[Correlation]:
    """Worker entry for one broker message (an event, or an intake batch): claim the events'
    outbox rows, correlate, record, start matching playbooks when an incident opened or
    escalated, and mark the rows done, all in one commit (with ``inline``, the runs' first
    engine passes too: a kill switch first step engages in it).

    One commit per message, not per event: under load the intake's batches grow, and so does
    the work each commit carries; on SQLite a commit ends after ``SQLITE_WRITE_BUDGET`` and
    the rest of the message follows in the next. Redeliveries of work already done give no result. Two
    workers opening an incident for the same new dedup key race on its correlation key; the
    loser's batch is retried event by event, each up to three times, and attaches. A retry takes
    no owed rows along: their new keys could race again, and three lost races would fail the
    message and leave its rows to the relay's redelivery.
    """
    args = (window_seconds, playbooks, inline, settings)
    results: list[Correlation] = []
    try:
        _until_done(transaction, outbox_ids, args, results, take_along=True)
        return results
    except IntegrityError:
        pass  # rows already done are skipped by their claim
    for outbox_id in outbox_ids:
        for attempt in range(3):
            try:
                _until_done(transaction, [outbox_id], args, results, take_along=False)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
    return results


def _until_done(
    transaction: Transaction,
    outbox_ids: Sequence[int],
    args: tuple[int, Mapping[str, Playbook], InlineSteps | None, Settings | None],
    results: list[Correlation],
    *,
    take_along: bool,
) -> None:
    """Correlate ``outbox_ids`` in as many commits as SQLite's budget makes it, adding to ``results``
    (with ``take_along``, the owed rows after them too)."""
    left = list(outbox_ids)
    while left:
        done, left = _correlate(transaction, left, *args, take_along=take_along)
        results += done


def _correlate(
    transaction: Transaction,
    outbox_ids: Sequence[int],
    window_seconds: int,
    playbooks: Mapping[str, Playbook],
    inline: InlineSteps | None,
    settings: Settings | None,
    *,
    take_along: bool,
) -> tuple[list[Correlation], list[int]]:
    """Correlate in one transaction; also return the ids left for another one (SQLite's budget).

    The message's rows and the owed rows after them are claimed, and their keys, incidents and
    timeline tails locked and read, a statement each for the whole transaction; on SQLite only
    ``SQLITE_CLAIM`` rows at a time, so the rows a commit leaves for the next are not read twice.
    The message's own rows go first, then the owed rows; within a key, events go in the order
    they were accepted."""
    results: list[Correlation] = []
    left: list[int] = []
    alongside = 0
    with transaction() as session:
        budget = SQLITE_WRITE_BUDGET if session.get_bind().dialect.name == "sqlite" else None
        yield_lock = partial(intake_waiting, session)
        if budget is not None:
            outbox_ids, left = outbox_ids[:SQLITE_CLAIM], list(outbox_ids[SQLITE_CLAIM:])
        now = clock.utcnow()
        rows = _claim(session, outbox_ids)  # in id order, then incidents by key
        if not rows:
            return [], left
        mine = {row.id for row, _ in rows}
        reach = STORM_BATCH if budget is None else max(0, SQLITE_CLAIM - len(rows))
        rows += _owed_after(session, rows[-1][0].id, reach) if reach and take_along else []
        claimed: list[tuple[OutboxRow, EventRow]] = []
        for row, found in rows:
            if found is None:  # cannot happen: both rows commit together
                outbox.complete(row, now)
                continue
            claimed.append((row, found))
        incidents.lock_for_correlation(session, [event.dedup_key for _, event in claimed])
        timeline.prime_tails(session, _chains_appended(session, claimed, now, window_seconds))
        done, known = 0, set[str]()  # known: once keys of runs found or started in this transaction
        started = time.monotonic()  # the budget is for correlating: every commit correlates some
        # The message's own rows first, so every commit advances it (owed rows after it are only
        # taken along); by key, then in the order accepted.
        for row, event in sorted(
            claimed, key=lambda pair: (pair[0].id not in mine, pair[1].dedup_key, pair[0].id)
        ):
            if (
                budget is not None
                and done
                and (time.monotonic() - started > budget or (done >= SQLITE_MIN_EVENTS and yield_lock()))
            ):
                if row.id in mine:
                    left.append(row.id)
                continue  # an owed row after the message stays owed, for its own message
            bind_ids(event_id=event.id)
            result = _correlate_one(
                session, row, event, now, window_seconds, playbooks, inline, settings, known
            )
            done += 1
            if row.id in mine:
                results.append(result)
            else:
                alongside += 1
            bind_ids(incident_id=result.incident_id)
    if done:
        log.info(
            "events correlated",
            events=len(results),
            opened=sum(c.opened for c in results),
            escalated=sum(c.escalated for c in results),
            alongside=alongside,
        )
    return results, sorted(left)
