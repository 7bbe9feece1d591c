"""An app whose credentials TikTok refuses stops on its own: its tokens end ``failed`` and an
alarm names it, while the other apps of the revocation go on.

A refused client key or secret fails every request of that app alike, so sending its other
tokens would only add refusals; the other apps' credentials are their own, so their tokens are
revoked all the same. The revocation then finishes when the other apps' tokens are settled, and
its step fails naming the app that was not revoked. A later revocation (after the secret is
fixed) sends the refused app's tokens again: a token that failed in a finished revocation is
tried again by the next one (``plan``).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, update
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.incidents import news
from orchestrator.revocation.models import LedgerRow, RevocationRow
from orchestrator.revocation.story import note
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.timeline import kinds

__all__ = ["fail_pending", "refuse_app", "refused", "stopped"]

_LEDGER = cast(Table, LedgerRow.__table__)


def fail_pending(connection: Connection, *, revocation_id: str, app: str, error: str) -> int:
    """Settle the revocation's own tokens of ``app`` still pending as ``failed`` with ``error``:
    how many. Tokens other workers are sending stay theirs; they come back refused the same."""
    result = connection.execute(
        update(_LEDGER)
        .where(_LEDGER.c.revocation_id == revocation_id, _LEDGER.c.app == app, _LEDGER.c.status == "pending")
        .values(status="failed", error=error, claimed_by=None, updated_at=clock.utcnow())
    )
    return int(result.rowcount or 0)


def refused(alarms: dict[str, str] | None, app: str) -> str | None:
    """The code TikTok refused ``app``'s credentials with, by the revocation's ``alarms`` (None:
    they were not refused)."""
    if not alarms:
        return None
    found = alarms.get(app)
    return found.partition(":")[0] if found is not None else None


def refuse_app(
    session: Session,
    revocation_id: str,
    *,
    app: str,
    client_key: str | None,
    error_code: str,
    log_id: str | None,
) -> bool:
    """Record that TikTok refused ``app``'s credentials in the revocation: its pending tokens
    failed, its alarm, and an alarm entry naming the app and its client key (never the secret).
    False when the app's alarm was already raised.

    The ledger rows are updated before the revocation is locked, the order planning takes them
    in (a batch's rows, then the revocation's count): the other order could deadlock with it.
    """
    failed = fail_pending(session.connection(), revocation_id=revocation_id, app=app, error=error_code)
    row = session.get(RevocationRow, revocation_id, with_for_update={"key_share": True})
    alarms = dict(row.alarms or {}) if row is not None else {}
    if row is None or app in alarms:
        return False
    whose = "" if app == DEFAULT_APP else f" of app {app} (client key {client_key})"
    alarms[app] = f"{error_code}: our TikTok credentials{whose} were refused (log_id {log_id})"
    row.alarms, row.alarm = alarms, "; ".join(alarms[name] for name in sorted(alarms))
    others = [name for name in row.apps or [DEFAULT_APP] if name not in alarms]
    note(
        session,
        row,
        kind=kinds.REVOCATION_ALARM,
        message=f"Escalate to a person: {alarms[app]}; its tokens are not being revoked"
        + (f" (the other apps' go on: {', '.join(others)})" if others else ""),
        data={
            "revocation_id": row.id,
            "reason": error_code,
            "app": app,
            "client_key": client_key,
            "log_id": log_id,
            "count": failed,
        },
    )
    if row.incident_id:
        news.changed(session, incident_id=row.incident_id, at=clock.utcnow())
    return True


def stopped(revocation_id: str, summary: dict[str, Any], alarms: dict[str, str]) -> str | None:
    """What a revocation's step fails with when an app's credentials were refused: each such app
    named with its alarm, and every app's figures (None when no app stopped)."""
    if not alarms:
        return None
    figures = "; ".join(
        f"{'' if app == DEFAULT_APP else f'app {app}: '}{f['revoked']} of {f['total']} revoked"
        + (f", {f['failed']} failed" if f["failed"] else "")
        for app, f in summary["apps"].items()
    )
    return (
        f"revocation {revocation_id} halted: "
        + "; ".join(alarms[app] for app in sorted(alarms))
        + (f" ({figures})" if figures else "")
    )
