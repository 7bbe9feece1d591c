"""The story of a mass revocation: start (idempotent), plan, take stock as tokens settle, finish.

No thread follows a revocation: the worker whose commit changes the tallies writes the progress
notes, and the one whose commit settles the last token of a revocation finishes it, sets its
incident's ``revoked_at`` and finishes the playbook step that awaits it (``take_stock``). A
worker that waited for its batches instead held a thread those batches needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.incidents import lifecycle, news
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.models import RunRow
from orchestrator.playbooks.service import finish_awaited_step
from orchestrator.ports import Ports
from orchestrator.revocation import plan as planning
from orchestrator.revocation.members import figures, ledger_rows_of
from orchestrator.revocation.models import FINAL_OUTCOMES, UNSETTLED, LedgerRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.tokens.inventory import Scope, TokenInventory

_SENT = ("revoked", "already_dead", "failed", "grant_lost")  # outcomes a request to TikTok gave
_NOTE_EVERY_S = 1.0

__all__ = ["Tally", "note_paused", "start", "take_stock", "tally"]


@dataclass(frozen=True)
class Tally:
    """Counts of a revocation's tokens by outcome; ``done`` when planning ended and nothing is left.

    Counts cover every token in its scope, whoever settled it: ``by_others`` says how many each
    other revocation settled, ``requests`` how many this one sent.
    """

    revocation_id: str
    planned: int
    plan_done: bool
    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    alarm: str | None = None
    retrying: dict[str, int] = field(default_factory=dict)  # still pending after a failed pass, by error
    by_others: dict[str, int] = field(default_factory=dict)  # settled by another revocation's batches
    requests: int = 0  # tokens this revocation's own batches sent to TikTok
    by_app: dict[str, dict[str, int]] = field(default_factory=dict)  # app -> status -> count
    app_requests: dict[str, int] = field(default_factory=dict)  # app -> tokens this one sent

    @property
    def settled(self) -> int:
        return sum(n for status, n in self.counts.items() if status not in ("pending", "sending"))

    @property
    def done(self) -> bool:
        return self.plan_done and self.counts.get("pending", 0) == 0 and self.counts.get("sending", 0) == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "revocation_id": self.revocation_id,
            "total": self.planned,
            "revoked": self.counts.get("revoked", 0),
            "already_dead": self.counts.get("already_dead", 0),
            "failed": self.counts.get("failed", 0) + self.counts.get("grant_lost", 0),
            "grant_lost": self.counts.get("grant_lost", 0),
            "gone": self.counts.get("gone", 0),
            "pending": self.counts.get("pending", 0) + self.counts.get("sending", 0),
            "failures": self.failures,
            "alarm": self.alarm,
            "revoked_by": self.by_others,
            "requests": self.requests,
            "apps": {
                app: {**figures(counts), "requests": self.app_requests.get(app, 0)}
                for app, counts in self.by_app.items()
            },
        }


def tally(session: Session, *, revocation_id: str) -> Tally:
    """The revocation's members counted by their one ledger row, whoever's batch settled it."""
    row = session.get(RevocationRow, revocation_id)
    if row is None:
        raise KeyError(revocation_id)
    members = ledger_rows_of([revocation_id])
    counts: dict[str, int] = {}
    by_others: dict[str, int] = {}
    by_app: dict[str, dict[str, int]] = {app: {} for app in row.apps or [DEFAULT_APP]}
    requests = 0
    app_requests: dict[str, int] = {}
    for status, sender, app, n in session.execute(
        members.with_only_columns(
            LedgerRow.status, LedgerRow.revocation_id, LedgerRow.app, func.count()
        ).group_by(LedgerRow.status, LedgerRow.revocation_id, LedgerRow.app)
    ):
        counts[str(status)] = counts.get(str(status), 0) + int(n)
        mine = by_app.setdefault(str(app), {})
        mine[str(status)] = mine.get(str(status), 0) + int(n)
        if sender != revocation_id and status in FINAL_OUTCOMES:
            by_others[str(sender)] = by_others.get(str(sender), 0) + int(n)
        elif sender == revocation_id and status in _SENT:
            requests += int(n)
            app_requests[str(app)] = app_requests.get(str(app), 0) + int(n)
    failures: dict[str, int] = {}
    retrying: dict[str, int] = {}  # a failed pass leaves its error on the row until it is revoked
    for status, error, n in session.execute(
        members.with_only_columns(LedgerRow.status, LedgerRow.error, func.count())
        .where(
            or_(
                LedgerRow.status.in_(("failed", "grant_lost")),
                LedgerRow.status.in_(UNSETTLED) & LedgerRow.error.is_not(None),
            )
        )
        .group_by(LedgerRow.status, LedgerRow.error)
    ):
        into = retrying if status in UNSETTLED else failures
        into[str(error or "unknown")] = into.get(str(error or "unknown"), 0) + int(n)
    return Tally(
        revocation_id=revocation_id,
        planned=row.planned,
        plan_done=row.plan_done,
        counts=counts,
        failures=failures,
        alarm=row.alarm,
        retrying=retrying,
        by_others=by_others,
        requests=requests,
        by_app=by_app,
        app_requests=app_requests,
    )


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
) -> Tally | None:
    """Create (or find, by ``key``) the revocation of the apps of ``inventories`` (name -> the
    app's inventory) and plan it; its tally once it is finished.

    None means it goes on: the batches settle its tokens, and the one whose commit settles the
    last of them finishes it (``take_stock``) and the step that started it. A revocation whose
    every token another one already settled, or with nothing in scope, finishes here.
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
        take_stock(session, only=revocation_id)
        status = session.scalar(select(RevocationRow.status).where(RevocationRow.id == revocation_id))
        return tally(session, revocation_id=revocation_id) if status == "finished" else None


def _of_apps(apps: Sequence[TikTokApp]) -> str:
    """`` of app shop (client key shop-key)`` naming each app but a lone ``default``."""
    if [app.name for app in apps] == [DEFAULT_APP]:
        return ""
    named = ", ".join(f"{app.name} (client key {app.client_key})" for app in apps)
    return f" of app{'s' if len(apps) > 1 else ''} {named}"


def take_stock(session: Session, *, only: str | None = None) -> None:
    """Bring every planned, unfinished revocation up to date after the tallies changed: finish
    those with no token left unsettled (and the steps awaiting them), and write the progress
    notes due; an incident whose timeline changed is owed a fresher card (``news.changed``).

    Called in the commit that settles tokens (a batch's last) and at the end of planning. Each
    revocation is locked first, so of two workers settling its last tokens at once, the second
    sees the first's commit: one of them always finishes it.
    """
    now = clock.utcnow()
    query = (
        select(RevocationRow)
        .where(RevocationRow.status != "finished", RevocationRow.plan_done.is_(True))
        .order_by(RevocationRow.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: foreign-key checks of other writers pass
    )
    if only is not None:
        query = query.where(RevocationRow.id == only)
    for row in session.scalars(query):
        if row.alarm is not None or not _unsettled(session, row.id):
            _finish(session, row, tally(session, revocation_id=row.id), now=now)
        elif row.noted_at is not None and (now - row.noted_at).total_seconds() < _NOTE_EVERY_S:
            continue
        else:
            row.noted_at = now
            if not _note_progress(session, row, tally(session, revocation_id=row.id), now=now):
                continue
        if row.incident_id:
            news.changed(session, incident_id=row.incident_id, at=now)


def _unsettled(session: Session, revocation_id: str) -> bool:
    query = ledger_rows_of([revocation_id], LedgerRow.id).where(LedgerRow.status.in_(UNSETTLED)).limit(1)
    return session.scalar(query) is not None


def _story(session: Session, row: RevocationRow) -> tuple[str, str]:
    """The chain a revocation's entries go to and their actor: its run's playbook."""
    run = session.get(RunRow, row.run_id) if row.run_id else None
    actor = f"playbook:{run.playbook_name}" if run is not None else "system:revocation"
    return row.incident_id or row.run_id or row.id, actor


def _note_progress(session: Session, row: RevocationRow, current: Tally, *, now: datetime) -> bool:
    """A milestone every 10 %, and a note when TikTok starts (or stops) failing tokens, so a
    stalled revocation is never silent; True when one was written."""
    chain, actor = _story(session, row)
    wrote = False
    if bool(current.retrying) != row.slowed:
        _note_retrying(session, current, chain=chain, actor=actor)
        row.slowed, wrote = not row.slowed, True
    reached = (current.settled * 10 // current.planned) if current.planned else 0
    if reached > row.milestone and 0 < reached < 10:
        elapsed = (now - row.created_at).total_seconds()
        rate = current.settled / elapsed if elapsed > 0 else 0.0
        eta = (current.planned - current.settled) / rate if rate > 0 else None
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_PROGRESS,
            message=f"Revocation {reached * 10}% ({current.settled} of {current.planned})"
            + _by_others(current),
            data={**current.as_dict(), "done": current.settled, "eta_s": eta},
        )
        row.milestone, wrote = reached, True
    return wrote


def note_paused(session: Session, revocation_id: str, *, handed_back: int) -> None:
    """A progress entry saying a stopping worker handed its batch back, so a pause in the
    revocation has its reason on the timeline."""
    row = session.get(RevocationRow, revocation_id)
    if row is None or row.status == "finished" or handed_back == 0:
        return
    chain, actor = _story(session, row)
    timeline.append_entry(
        session,
        chain=chain,
        actor=actor,
        kind=kinds.REVOCATION_PROGRESS,
        message=f"Revocation paused: a worker is stopping; it handed {handed_back} tokens back to the others",
        data={"revocation_id": revocation_id, "paused": "worker stopping", "handed_back": handed_back},
    )


def _note_retrying(session: Session, current: Tally, *, chain: str, actor: str) -> None:
    """A progress entry saying tokens are waiting for another pass (and why), or no longer are."""
    waiting = sum(current.retrying.values())
    if waiting:
        reasons = ", ".join(f"{code} {n}" for code, n in sorted(current.retrying.items()))
        message = f"Revocation slowed: TikTok failing ({reasons}); {waiting} of {current.planned} tokens wait"
        message += " for another pass"
    else:
        message = f"Revocation resumed: every token that failed went through ({current.settled} done)"
    timeline.append_entry(
        session,
        chain=chain,
        actor=actor,
        kind=kinds.REVOCATION_PROGRESS,
        message=message,
        data={**current.as_dict(), "done": current.settled, "retrying": dict(current.retrying)},
    )


def _by_others(current: Tally) -> str:
    """``; 40 revoked by rev-...`` for the tokens other revocations settled for this one."""
    return "".join(f"; {n} revoked by {other}" for other, n in sorted(current.by_others.items()))


def _finish(session: Session, row: RevocationRow, result: Tally, *, now: datetime) -> None:
    chain, actor = _story(session, row)
    row.status, row.finished_at = "finished", now
    summary = result.as_dict()
    duration_ms = int((now - row.created_at).total_seconds() * 1000)
    for app, last in session.execute(  # each app's requests went out until its last was answered
        select(LedgerRow.app, func.max(LedgerRow.updated_at))
        .where(LedgerRow.revocation_id == row.id, LedgerRow.status.in_(_SENT))
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
            f"{summary['failed']} failed" + _by_others(result)
        ),
        data={**summary, "duration_ms": duration_ms},
    )
    if result.alarm or summary["grant_lost"]:
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_ALARM,
            message=(
                "Escalate to a person: "
                + (result.alarm or f"{summary['grant_lost']} grants could not be revoked (refresh refused)")
            ),
            data={
                "revocation_id": row.id,
                "reason": result.alarm or "grant_lost",
                "count": summary["grant_lost"] or summary["failed"],
            },
        )
    if row.incident_id:
        incident = session.get(IncidentRow, row.incident_id, with_for_update={"key_share": True})
        if incident is not None:
            lifecycle.mark_revoked(incident, at=now)
    halted = f"revocation {row.id} halted: {result.alarm}" if result.alarm else None
    finish_awaited_step(session, key=row.key, output=None if halted else summary, error=halted, now=now)
