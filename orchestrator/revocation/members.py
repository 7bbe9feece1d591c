"""The tokens in revocations' scopes: their ledger rows, through ``revocation_members``.

The ledger holds one row per token for every revocation, so "the tokens of revocation R" is a
join, never ``LedgerRow.revocation_id == R`` (that names only the revocation whose batch sent it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from orchestrator.revocation.models import LedgerRow, MemberRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP

__all__ = ["figures", "incident_figures", "ledger_rows_of"]


def ledger_rows_of(revocation_ids: Iterable[str], *columns: Any) -> Select[Any]:
    """SELECT ``columns`` (default: the rows) of the ledger rows in the scopes of ``revocation_ids``."""
    wanted = list(revocation_ids)
    query = select(*columns) if columns else select(LedgerRow)
    return (
        query.select_from(LedgerRow)
        .join(MemberRow, MemberRow.ledger_id == LedgerRow.id)
        .where(
            MemberRow.revocation_id.in_(wanted) if len(wanted) != 1 else MemberRow.revocation_id == wanted[0]
        )
    )


def figures(counts: dict[str, int]) -> dict[str, int]:
    """One app's figures from its ledger rows counted by status: its tokens in scope and how
    each ended (or that it is pending)."""
    return {
        "total": sum(counts.values()),
        "revoked": counts.get("revoked", 0),
        "already_dead": counts.get("already_dead", 0),
        "failed": counts.get("failed", 0) + counts.get("grant_lost", 0),
        "gone": counts.get("gone", 0),
        "pending": counts.get("pending", 0) + counts.get("sending", 0),
    }


def incident_figures(session: Session, incident_id: str) -> dict[str, dict[str, int]]:
    """Each app's ``figures`` over the tokens of every revocation of ``incident_id`` (a token in
    several of their scopes counted once); an app of a revocation still planning has zeros, an
    app of none is absent."""
    revocations = session.execute(
        select(RevocationRow.id, RevocationRow.apps).where(RevocationRow.incident_id == incident_id)
    ).all()
    if not revocations:
        return {}
    counts: dict[str, dict[str, int]] = {
        app: {} for _id, apps in revocations for app in (apps or [DEFAULT_APP])
    }
    rows = session.execute(
        ledger_rows_of(
            [revocation_id for revocation_id, _apps in revocations],
            LedgerRow.app,
            LedgerRow.status,
            func.count(func.distinct(LedgerRow.id)),
        ).group_by(LedgerRow.app, LedgerRow.status)
    )
    for app, status, n in rows:
        counts.setdefault(str(app), {})[str(status)] = int(n)
    return {app: figures(by_status) for app, by_status in counts.items()}
