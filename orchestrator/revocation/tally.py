"""A revocation's tally: its tokens counted by outcome, per app, whoever's batch settled them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.orm import Session

from orchestrator.revocation import alarms as app_alarms
from orchestrator.revocation.members import figures, ledger_rows_of
from orchestrator.revocation.models import FINAL_OUTCOMES, UNSETTLED, LedgerRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP

__all__ = ["SENT", "Tally", "tally"]

SENT = ("revoked", "already_dead", "failed", "grant_lost")  # outcomes a request to TikTok gave


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
    alarms: dict[str, str] = field(default_factory=dict)  # app -> why it stopped (credentials refused)
    retrying: dict[str, int] = field(default_factory=dict)  # still pending after a failed pass, by error
    by_others: dict[str, int] = field(default_factory=dict)  # settled by another revocation's batches
    requests: int = 0  # tokens this revocation's own batches sent to TikTok
    by_app: dict[str, dict[str, int]] = field(default_factory=dict)  # app -> status -> count
    app_requests: dict[str, int] = field(default_factory=dict)  # app -> tokens this one sent

    @property
    def settled(self) -> int:
        return sum(n for status, n in self.counts.items() if status not in ("pending", "sending"))

    @property
    def stopped(self) -> str | None:
        """What the revocation's step fails with: the apps whose credentials were refused, each
        named with its client key, and every app's figures; None when no app stopped."""
        if self.alarms:
            return app_alarms.stopped(self.revocation_id, self.as_dict(), self.alarms)
        return f"revocation {self.revocation_id} halted: {self.alarm}" if self.alarm else None

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
            "alarms": self.alarms,
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
        elif sender == revocation_id and status in SENT:
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
        alarms=dict(row.alarms or {}),
        retrying=retrying,
        by_others=by_others,
        requests=requests,
        by_app=by_app,
        app_requests=app_requests,
    )
