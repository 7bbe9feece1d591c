"""The tokens in revocations' scopes: their ledger rows, through ``revocation_members``.

The ledger holds one row per token for every revocation, so "the tokens of revocation R" is a
join, never ``LedgerRow.revocation_id == R`` (that names only the revocation whose batch sent it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select

from orchestrator.revocation.models import LedgerRow, MemberRow

__all__ = ["ledger_rows_of"]


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
