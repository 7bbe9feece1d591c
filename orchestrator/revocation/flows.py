"""The story of a mass revocation: start (idempotent), plan, follow progress, finish with a tally."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.errors import StoreError
from orchestrator.incidents.models import IncidentRow
from orchestrator.inventory.base import Scope, TokenInventory
from orchestrator.logging import get_logger
from orchestrator.revocation import plan as planning
from orchestrator.revocation.models import LedgerRow, RevocationRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime

log = get_logger(__name__)

__all__ = ["Tally", "follow", "start", "tally"]


@dataclass(frozen=True)
class Tally:
    """Counts of a revocation by outcome; ``done`` when planning ended and nothing is left."""

    revocation_id: str
    planned: int
    plan_done: bool
    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    alarm: str | None = None
    retrying: dict[str, int] = field(default_factory=dict)  # still pending after a failed pass, by error

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
        }


def tally(session: Session, *, revocation_id: str) -> Tally:
    row = session.get(RevocationRow, revocation_id)
    if row is None:
        raise KeyError(revocation_id)
    counts = dict(
        session.execute(
            select(LedgerRow.status, func.count())
            .where(LedgerRow.revocation_id == revocation_id)
            .group_by(LedgerRow.status)
        ).all()
    )
    failures = dict(
        session.execute(
            select(LedgerRow.error, func.count())
            .where(LedgerRow.revocation_id == revocation_id, LedgerRow.status.in_(("failed", "grant_lost")))
            .group_by(LedgerRow.error)
        ).all()
    )
    retrying = session.execute(  # a failed pass leaves its error on the row until it is revoked
        select(LedgerRow.error, func.count())
        .where(
            LedgerRow.revocation_id == revocation_id,
            LedgerRow.status.in_(("pending", "sending")),
            LedgerRow.error.is_not(None),
        )
        .group_by(LedgerRow.error)
    ).all()
    return Tally(
        revocation_id=revocation_id,
        planned=row.planned,
        plan_done=row.plan_done,
        counts={str(k): int(v) for k, v in counts.items()},
        failures={str(k or "unknown"): int(v) for k, v in failures.items()},
        alarm=row.alarm,
        retrying={str(k): int(v) for k, v in retrying},
    )


def start(
    runtime: Runtime,
    *,
    key: str,
    scope_text: str,
    priority_open_ids: Sequence[str],
    incident_id: str | None,
    run_id: str | None,
    chain: str,
    actor: str,
    inventory: TokenInventory,
) -> str:
    """Create (or find, by ``key``) the revocation and plan it; returns its id."""
    scope = Scope.parse(scope_text)
    rate = runtime.settings.tiktok_revoke_rate
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
        )
        revocation_id = row.id
        if created:
            total = inventory.count(scope)
            eta = (total / rate) if (total and rate) else None
            timeline.append_entry(
                session,
                chain=chain,
                actor=actor,
                kind=kinds.REVOCATION_STARTED,
                message=f"Revoking {total if total is not None else 'all'} TikTok tokens (scope {scope_text})"
                + (f", about {eta / 3600:.1f} h at {rate:g}/s" if eta and eta > 3600 else ""),
                data={
                    "revocation_id": revocation_id,
                    "scope": scope_text,
                    "total": total,
                    "rate_per_s": rate,
                    "eta_s": eta,
                    "priority_open_ids": list(priority_open_ids),
                },
            )
    planning.plan(
        runtime.transaction,
        revocation_id=revocation_id,
        inventory=inventory,
        batch_size=runtime.settings.revocation_batch_size,
    )
    return revocation_id


def follow(
    runtime: Runtime,
    *,
    revocation_id: str,
    chain: str,
    actor: str,
    stop: Callable[[], bool],
    poll_seconds: float = 0.5,
    on_progress: Callable[[], object] = lambda: None,
) -> Tally:
    """Wait until the revocation is done, writing a progress milestone every 10 %; then finish it.

    When TikTok starts failing tokens (an outage, a 429 storm) the timeline says so once, and
    again when they all went through, so a stalled revocation is never silent. The store going
    away for a while only pauses the following: the batches go on, and so does this.
    """
    milestone = -1
    slowed = False
    started = time.monotonic()
    while True:
        try:
            with runtime.store.unit_of_work() as session:
                current = tally(session, revocation_id=revocation_id)
            if current.done or stop():
                break
            if bool(current.retrying) != slowed:
                _note_retrying(runtime, current, chain=chain, actor=actor)
                slowed = not slowed
                on_progress()
            reached = (current.settled * 10 // current.planned) if current.planned else 0
            if current.plan_done and reached > milestone and 0 < reached < 10:
                elapsed = time.monotonic() - started
                _note_milestone(runtime, current, reached, elapsed, chain=chain, actor=actor)
                milestone = reached
                on_progress()
        except StoreError as exc:
            log.warning("revocation progress unreadable; trying again", error=str(exc)[:200])
            if stop():
                raise
        time.sleep(poll_seconds)
    if current.done:
        _finish(runtime, current, chain=chain, actor=actor, started=started)
    return current


def _note_milestone(
    runtime: Runtime, current: Tally, reached: int, elapsed: float, *, chain: str, actor: str
) -> None:
    rate = current.settled / elapsed if elapsed > 0 else 0.0
    eta = (current.planned - current.settled) / rate if rate > 0 else None
    with runtime.store.unit_of_work() as session:
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_PROGRESS,
            message=f"Revocation {reached * 10}% ({current.settled} of {current.planned})",
            data={**current.as_dict(), "done": current.settled, "eta_s": eta},
        )


def _note_retrying(runtime: Runtime, current: Tally, *, chain: str, actor: str) -> None:
    """A progress entry saying tokens are waiting for another pass (and why), or no longer are."""
    waiting = sum(current.retrying.values())
    if waiting:
        reasons = ", ".join(f"{code} {n}" for code, n in sorted(current.retrying.items()))
        message = f"Revocation slowed: TikTok failing ({reasons}); {waiting} of {current.planned} tokens wait"
        message += " for another pass"
    else:
        message = f"Revocation resumed: every token that failed went through ({current.settled} done)"
    with runtime.store.unit_of_work() as session:
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_PROGRESS,
            message=message,
            data={**current.as_dict(), "done": current.settled, "retrying": dict(current.retrying)},
        )


def _finish(runtime: Runtime, result: Tally, *, chain: str, actor: str, started: float) -> None:
    now = clock.utcnow()
    with runtime.transaction() as session:
        row = session.get(RevocationRow, result.revocation_id, with_for_update=True)
        if row is None or row.status == "finished":
            return
        row.status, row.finished_at = "finished", now
        summary = result.as_dict()
        duration_ms = int((now - row.created_at).total_seconds() * 1000)
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_FINISHED,
            message=(
                f"Revocation finished: {summary['revoked']} revoked, {summary['already_dead']} already dead, "
                f"{summary['failed']} failed"
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
                    + (
                        result.alarm
                        or f"{summary['grant_lost']} grants could not be revoked (refresh refused)"
                    )
                ),
                data={
                    "revocation_id": row.id,
                    "reason": result.alarm or "grant_lost",
                    "count": summary["grant_lost"] or summary["failed"],
                },
            )
        if row.incident_id:
            incident = session.get(IncidentRow, row.incident_id, with_for_update=True)
            if incident is not None and incident.revoked_at is None:
                incident.revoked_at = now
