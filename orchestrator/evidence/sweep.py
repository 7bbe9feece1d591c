"""The scheduler's checkpoint job: sign each chain's head at every milestone, and at least every
minute while its entries arrive.

It follows new entries by id (the primary key: no scan of the whole timeline per tick) and
remembers which chains have unsigned entries; on its first pass it compares every chain's
head with its last checkpoint, so a restart leaves nothing unsigned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.incidents import news
from orchestrator.incidents.models import IncidentRow
from orchestrator.store.db import Store
from orchestrator.timeline import checkpoints
from orchestrator.timeline.checkpoints import CheckpointRow, Signer
from orchestrator.timeline.models import TimelineEntryRow

__all__ = ["EVERY", "CheckpointSweep"]

EVERY = timedelta(minutes=1)
"""The longest a chain's new entries stay unsigned while nothing marks a milestone."""


class CheckpointSweep:
    """Call once per scheduler tick; returns how many checkpoints it signed."""

    def __init__(
        self,
        store: Store,
        signer: Callable[[], Signer],
        now: Callable[[], datetime] = clock.utcnow,
    ) -> None:
        self._store = store
        self._now = now
        self._signer = signer
        self._cursor: int | None = None  # highest entry id seen; None until the first pass
        self._unsigned: set[str] = set()  # chains with entries after their last checkpoint
        self._signed_at: dict[str, datetime] = {}  # when this sweep last signed each chain

    def __call__(self) -> int:
        now = self._now()
        with self._store.unit_of_work() as session:
            due = self._due(session, now)
            signer = self._signer() if due else None
            for chain, reason in sorted(due.items()):
                assert signer is not None
                checkpoints.take(session, chain=chain, signer=signer, reason=reason, now=now)
                if session.get(IncidentRow, chain) is not None:
                    news.changed(session, incident_id=chain, at=now)  # its card shows the checkpoint
                self._unsigned.discard(chain)
                self._signed_at[chain] = now
        return len(due)

    def _due(self, session: Session, now: datetime) -> dict[str, str]:
        """Chains to sign now, with why: a milestone arrived, or entries waited a minute."""
        due: dict[str, str] = {}
        if self._cursor is None:
            self._cursor = int(session.scalar(select(func.max(TimelineEntryRow.id))) or 0)
            signed: dict[str, int] = {
                chain: seq
                for chain, seq in session.execute(
                    select(CheckpointRow.chain, func.max(CheckpointRow.seq)).group_by(CheckpointRow.chain)
                )
            }
            heads = session.execute(
                select(TimelineEntryRow.chain, func.max(TimelineEntryRow.seq)).group_by(
                    TimelineEntryRow.chain
                )
            )
            for chain, seq in heads:
                if seq > signed.get(chain, 0):
                    due[chain] = "unsigned at start"
            return due
        fresh = session.execute(
            select(
                TimelineEntryRow.chain,
                func.max(TimelineEntryRow.id),
                func.max(case((TimelineEntryRow.kind.in_(checkpoints.MILESTONES), 1), else_=0)),
            )
            .where(TimelineEntryRow.id > self._cursor)
            .group_by(TimelineEntryRow.chain)
        )
        for chain, last_id, milestone in fresh:
            self._cursor = max(self._cursor, int(last_id))
            self._unsigned.add(chain)
            if milestone:
                due[chain] = "milestone"
        for chain in self._unsigned - set(due):
            last = self._signed_at.get(chain)
            if last is None or now - last >= EVERY:
                due[chain] = "every minute"
        return due
