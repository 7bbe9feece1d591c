"""The story of a mass revocation: start (idempotent), plan, take stock as tokens settle, finish.

No thread follows a revocation: the worker whose commit changes the tallies writes the progress
notes, and the one whose commit settles the last token of a revocation finishes it, sets its
incident's ``revoked_at`` and finishes the playbook step that awaits it (``take_stock``). A
worker that waited for its batches instead held a thread those batches needed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.config import Settings
from orchestrator.incidents import lifecycle, news
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.service import finish_awaited_step
from orchestrator.ports import Ports
from orchestrator.revocation import extension, progress
from orchestrator.revocation import plan as planning
from orchestrator.revocation.members import ledger_rows_of
from orchestrator.revocation.models import UNSETTLED, BatchRow, LedgerRow, RevocationRow
from orchestrator.revocation.story import story
from orchestrator.revocation.tally import SENT, Tally, tally
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.store import outbox
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.tokens.inventory import Scope, TokenInventory

__all__ = ["Tally", "start", "take_in_apps", "take_stock", "tally"]


def start(
    runtime: Ports,
    *,
    key: str,
    scope_text: str,
    priority_open_ids: Sequence[str],
    incident_id: str | None,
    run_id: str | None,
    chain: str,
    actor: str,
    inventories: dict[str, TokenInventory],
    follows_incident: bool = False,
) -> Tally | None:
    """Create (or find, by ``key``) the revocation of the apps of ``inventories`` (name -> the
    app's inventory) and plan it; its tally once it is finished.

    None means it goes on: the batches settle its tokens, and the one whose commit settles the
    last of them finishes it (``take_stock``) and the step that started it. A revocation whose
    every token another one already settled, or with nothing in scope, finishes here.
    ``follows_incident``: the apps are those the incident concerns, and an app it extends to
    before the revocation finishes joins it (``extension``).
    """
    scope = Scope.parse(scope_text)
    apps = [runtime.settings.app(name) for name in inventories]
    rates = [app.revoke_rate for app in apps]
    rate = sum(rates) if all(rates) else 0.0  # each app revokes at its own rate, all at once
    with runtime.transaction() as session:
        row, created = planning.get_or_create(
            session,
            key=key,
            scope=scope,
            scope_text=scope_text,
            priority_open_ids=priority_open_ids,
            incident_id=incident_id,
            run_id=run_id,
            rate_per_s=rate,
            apps=[app.name for app in apps],
            follows_incident=follows_incident,
        )
        revocation_id = row.id
        if created:
            totals = {app.name: inventories[app.name].count(scope) for app in apps}
            counted = [n for n in totals.values() if n is not None]
            total = sum(counted) if len(counted) == len(totals) else None
            etas = [n / app.revoke_rate for app in apps if (n := totals[app.name]) and app.revoke_rate]
            eta = max(etas) if etas and all(rates) else None
            timeline.append_entry(
                session,
                chain=chain,
                actor=actor,
                kind=kinds.REVOCATION_STARTED,
                message=f"Revoking {total if total is not None else 'all'} TikTok tokens{_of_apps(apps)}"
                + f" (scope {scope_text})"
                + (f", about {eta / 3600:.1f} h at {rate:g}/s" if eta and eta > 3600 else ""),
                data={
                    "revocation_id": revocation_id,
                    "scope": scope_text,
                    "total": total,
                    "rate_per_s": rate,
                    "eta_s": eta,
                    "priority_open_ids": list(priority_open_ids),
                    "apps": {
                        app.name: {
                            "client_key": app.client_key,
                            "total": totals[app.name],
                            "rate_per_s": app.revoke_rate,
                        }
                        for app in apps
                    },
                },
            )
    planning.plan(
        runtime.transaction,
        revocation_id=revocation_id,
        inventories=inventories,
        batch_size=runtime.settings.revocation_batch_size,
    )
    with runtime.transaction() as session:
        due = take_stock(session, settings=runtime.settings, only=revocation_id)
        status = session.scalar(select(RevocationRow.status).where(RevocationRow.id == revocation_id))
        finished = tally(session, revocation_id=revocation_id) if status == "finished" else None
    progress.note_progress(runtime, due)
    return finished


def take_in_apps(
    runtime: Ports,
    *,
    outbox_id: int,
    open_inventories: Callable[[Sequence[str]], AbstractContextManager[dict[str, TokenInventory]]],
) -> None:
    """Worker entry for ``incident.extended``: each unfinished revocation following the incident
    takes in the apps it now concerns and plans their tokens (``extension``), so the step
    awaiting it finishes only once they are revoked too. When every such revocation had already
    finished, a revocation of the incident's apps follows (keyed by the first's key and those
    apps): the tokens the first settled stay settled, the added app's are sent once.
    """
    settings, now = runtime.settings, clock.utcnow()
    with runtime.transaction() as session:
        row = outbox.claim(session, outbox_id)
        if row is None:
            return
        incident_id = row.ref_id
        following = list(
            session.scalars(
                select(RevocationRow)
                .where(RevocationRow.incident_id == incident_id, RevocationRow.follows_incident.is_(True))
                .order_by(RevocationRow.created_at, RevocationRow.id)
                .with_for_update(key_share=True)
            )
        )
        work: dict[str, list[str]] = {}
        for revocation in following:
            if revocation.status == "finished":
                continue
            added = extension.missing(session, revocation, settings=settings)
            if added:
                extension.add_apps(session, revocation, added, settings=settings, now=now)
            # while its step still plans the first apps, only the added ones are this worker's
            planned = set(revocation.planned_apps or [])
            work[revocation.id] = (
                added
                if revocation.status == "planning"
                else [a for a in revocation.apps or [] if a not in planned]
            )
        late = following[-1] if following and not work else None
        lacking = extension.missing(session, late, settings=settings) if late is not None else []
        follow_up, follow_apps = None, []
        if late is not None and lacking:
            chain, actor = story(session, late)
            follow_apps = [*(late.apps or [DEFAULT_APP]), *lacking]
            follow_up = functools.partial(
                start,
                runtime,
                key=f"{late.key}+{'+'.join(follow_apps)}",
                scope_text=str(late.scope.get("spec", "all")),
                priority_open_ids=list(late.priority_open_ids or []),
                incident_id=late.incident_id,
                run_id=late.run_id,
                chain=chain,
                actor=actor,
                follows_incident=True,
            )
    for revocation_id, apps in work.items():
        with open_inventories(apps) as inventories:
            planning.plan(
                runtime.transaction,
                revocation_id=revocation_id,
                inventories=inventories,
                batch_size=settings.revocation_batch_size,
            )
        with runtime.transaction() as session:
            due = take_stock(session, settings=settings, only=revocation_id)
        progress.note_progress(runtime, due)
    if follow_up is not None:
        with open_inventories(follow_apps) as inventories:
            follow_up(inventories=inventories)
    with runtime.transaction() as session:
        row = outbox.claim(session, outbox_id)
        if row is not None:
            outbox.complete(row, clock.utcnow())


def _of_apps(apps: Sequence[TikTokApp]) -> str:
    """`` of app shop (client key shop-key)`` naming each app but a lone ``default``."""
    if [app.name for app in apps] == [DEFAULT_APP]:
        return ""
    named = ", ".join(f"{app.name} (client key {app.client_key})" for app in apps)
    return f" of app{'s' if len(apps) > 1 else ''} {named}"


def take_stock(session: Session, *, settings: Settings, only: str | None = None) -> list[str]:
    """Bring every planned, unfinished revocation up to date after the tallies changed: finish
    those with no token left unsettled (and the steps awaiting them); an incident whose timeline
    changed is owed a fresher card (``news.changed``). One that follows its incident and would
    finish without an app the incident now concerns takes that app in instead
    (``extension.take_in``), and finishes once it is revoked too. Returns the revocations due a
    progress note, claimed for this caller: it writes them after its commit
    (``progress.note_progress``).

    Called in the commit that settles tokens (a batch's last) and at the end of planning. Each
    revocation is locked first, so of two workers settling its last tokens at once, the second
    sees the first's commit: one of them always finishes it.
    """
    query = (
        select(RevocationRow)
        .where(RevocationRow.status != "finished", RevocationRow.plan_done.is_(True))
        .order_by(RevocationRow.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: foreign-key checks of other writers pass
    )
    if only is not None:
        query = query.where(RevocationRow.id == only)
    rows = list(session.scalars(query))
    now = clock.utcnow()  # after the locks: a note another worker wrote while this one waited is recent
    due: list[str] = []
    for row in rows:
        halted_whole = row.alarm is not None and not row.alarms  # halted before each app had its own
        if halted_whole or not _unsettled(session, row.id):
            if not halted_whole and extension.take_in(session, row, settings=settings, now=now):
                continue
            progress.forget(row.id)
            _finish(session, row, tally(session, revocation_id=row.id), now=now)
            if row.incident_id:
                news.changed(session, incident_id=row.incident_id, at=now)
        elif progress.due(row.noted_at, now, row.id):
            row.noted_at = now  # claimed: a worker taking stock before the note is written skips it
            due.append(row.id)
    return due


def _unsettled(session: Session, revocation_id: str) -> bool:
    """Whether a token in the revocation's scope is still unsettled.

    Its own batches answer first: one not done still holds tokens (a batch is done once none of
    its rows is pending or in flight), found among a few thousand rows. Only when all are done
    is the ledger asked, for members other revocations' batches send. That join runs under the
    lock every batch taking stock waits for, and near the end of a million tokens it walked
    every member to find the few left (the planner cannot know they are the last planned): 3 s
    on a quiet machine, 20 under load, so the last tenth crawled at tens of tokens a second.
    """
    open_batch = select(BatchRow.id).where(BatchRow.revocation_id == revocation_id, BatchRow.done.is_(False))
    if session.scalar(open_batch.limit(1)) is not None:
        return True
    query = ledger_rows_of([revocation_id], LedgerRow.id).where(LedgerRow.status.in_(UNSETTLED)).limit(1)
    return session.scalar(query) is not None


def _stopped_apps(current: Tally) -> str:
    """``; stopped for app shop: credentials refused`` naming the apps whose credentials failed."""
    if not current.alarms:
        return ""
    return f"; stopped for app {', '.join(sorted(current.alarms))}: credentials refused"


def _finish(session: Session, row: RevocationRow, result: Tally, *, now: datetime) -> None:
    chain, actor = story(session, row)
    row.status, row.finished_at = "finished", now
    summary = result.as_dict()
    duration_ms = int((now - row.created_at).total_seconds() * 1000)
    for app, last in session.execute(  # each app's requests went out until its last was answered
        select(LedgerRow.app, func.max(LedgerRow.updated_at))
        .where(LedgerRow.revocation_id == row.id, LedgerRow.status.in_(SENT))
        .group_by(LedgerRow.app)
    ):
        if last is not None and app in summary["apps"]:
            summary["apps"][app]["duration_ms"] = max(0, int((last - row.created_at).total_seconds() * 1000))
    timeline.append_entry(
        session,
        chain=chain,
        actor=actor,
        kind=kinds.REVOCATION_FINISHED,
        message=(
            f"Revocation finished: {summary['revoked']} revoked, {summary['already_dead']} already dead, "
            f"{summary['failed']} failed" + progress.by_others(result) + _stopped_apps(result)
        ),
        data={**summary, "duration_ms": duration_ms},
    )
    if (result.alarm and not result.alarms) or summary["grant_lost"]:  # an app's refusal has its own
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_ALARM,
            message=(
                "Escalate to a person: "
                + (
                    result.alarm
                    if result.alarm and not result.alarms
                    else f"{summary['grant_lost']} grants could not be revoked (refresh refused)"
                )
            ),
            data={
                "revocation_id": row.id,
                "reason": result.alarm if result.alarm and not result.alarms else "grant_lost",
                "count": summary["grant_lost"] or summary["failed"],
            },
        )
    if row.incident_id:
        incident = session.get(IncidentRow, row.incident_id, with_for_update={"key_share": True})
        if incident is not None:
            lifecycle.mark_revoked(incident, at=now)
    halted = result.stopped
    finish_awaited_step(session, key=row.key, output=None if halted else summary, error=halted, now=now)
