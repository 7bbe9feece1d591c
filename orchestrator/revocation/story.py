"""Where a revocation's timeline entries go and who writes them: its incident's (else its run's)
chain, by its run's playbook; ``note`` writes one there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.playbooks.models import RunRow
from orchestrator.revocation.models import RevocationRow
from orchestrator.timeline import service as timeline

__all__ = ["note", "story"]


def story(session: Session, row: RevocationRow) -> tuple[str, str]:
    """The chain a revocation's entries go to and their actor: its run's playbook."""
    run = session.get(RunRow, row.run_id) if row.run_id else None
    actor = f"playbook:{run.playbook_name}" if run is not None else "system:revocation"
    return row.incident_id or row.run_id or row.id, actor


def note(
    session: Session,
    row: RevocationRow,
    *,
    kind: str,
    message: str,
    data: dict[str, Any],
    at: datetime | None = None,
) -> None:
    """Append an entry about the revocation ``row`` to its story."""
    chain, actor = story(session, row)
    timeline.append_entry(session, chain=chain, actor=actor, kind=kind, message=message, data=data, at=at)
