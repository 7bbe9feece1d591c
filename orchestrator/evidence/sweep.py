"""The scheduler's checkpoint job: sign each chain's head at every milestone, and at least every
minute while its entries arrive.

It follows new entries by id (the primary key: no scan of the whole timeline per tick) and
remembers which chains have unsigned entries; on its first pass it compares every chain's
head with its last checkpoint, so a restart leaves nothing unsigned. PostgreSQL hands out ids
at insert, not at commit: an entry whose transaction commits after a later id's has gone past
the cursor unseen. So once a minute the heads of the chains written since the cursor of two
such re-checks ago (a window of one to two minutes of ids) are compared with their last
checkpoints too, and an entry committed late is signed within a minute of that re-check.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.incidents import news
from orchestrator.incidents.models import IncidentRow
from orchestrator.logging import get_logger
from orchestrator.store.db import Store
from orchestrator.timeline import checkpoints
from orchestrator.timeline.checkpoints import CheckpointRow, Signer
from orchestrator.timeline.models import TimelineEntryRow

__all__ = ["EVERY", "CheckpointSweep"]

log = get_logger(__name__)

EVERY = timedelta(minutes=1)
"""The longest a chain's new entries stay unsigned while nothing marks a milestone."""


class CheckpointSweep:
    """Call once per scheduler tick; returns how many checkpoints it signed."""

    def __init__(
        self,
        store: Store,
        signer: Callable[[], Signer],
        now: Callable[[], datetime] = clock.utcnow,
        *,
        cards: bool = False,
    ) -> None:
        self._store = store
        self._cards = cards  # Slack shows cards: a signed incident owes its card the checkpoint
        self._now = now
        self._signer = signer
        self._cursor: int | None = None  # highest entry id seen; None until the first pass
        self._unsigned: set[str] = set()  # chains with entries after their last checkpoint
        self._signed_at: dict[str, datetime] = {}  # when this sweep last signed each chain
        self._marks: deque[int] = deque(maxlen=2)  # the cursor at the last two re-checks
        self._rechecked_at: datetime | None = None

    def __call__(self) -> int:
        now = self._now()
        with self._store.unit_of_work() as session:
            due = self._due(session, now)
            signer = self._signer() if due else None
            signed = 0
            for chain, reason in sorted(due.items()):
                assert signer is not None
                self._unsigned.discard(chain)
                if checkpoints.take(session, chain=chain, signer=signer, reason=reason, now=now) is None:
                    log.error("chain not signed: it no longer reaches its last checkpoint", chain=chain)
                    continue  # `incident verify` names the break; new entries bring it back here
                if self._cards and session.get(IncidentRow, chain) is not None:
                    news.changed(session, incident_id=chain, at=now)  # its card shows the checkpoint
                self._signed_at[chain] = now
                signed += 1
        return signed

    def _due(self, session: Session, now: datetime) -> dict[str, str]:
        """Chains to sign now, with why: a milestone arrived, or entries waited a minute."""
        due: dict[str, str] = {}
        if self._cursor is None:
            self._cursor = int(session.scalar(select(func.max(TimelineEntryRow.id))) or 0)
            self._marks.append(self._cursor)
            self._rechecked_at = now
            return dict.fromkeys(_past_checkpoints(session, since=None), "unsigned at start")
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
        if self._rechecked_at is None or now - self._rechecked_at >= EVERY:
            # Entries committed after the cursor passed their id: those of two re-checks ago on.
            self._unsigned |= _past_checkpoints(session, since=self._marks[0])
            self._marks.append(self._cursor)
            self._rechecked_at = now
        for chain in self._unsigned - set(due):
            last = self._signed_at.get(chain)
            if last is None or now - last >= EVERY:
                due[chain] = "every minute"
        return due


def _past_checkpoints(session: Session, *, since: int | None) -> set[str]:
    """Chains whose head is past their last checkpoint: those with entries after id ``since``, or
    (None) every chain."""
    heads = select(TimelineEntryRow.chain, func.max(TimelineEntryRow.seq)).group_by(TimelineEntryRow.chain)
    if since is not None:
        heads = heads.where(TimelineEntryRow.id > since)
    head: dict[str, int] = {chain: int(seq) for chain, seq in session.execute(heads)}
    if not head:
        return set()
    signed = select(CheckpointRow.chain, func.max(CheckpointRow.seq)).group_by(CheckpointRow.chain)
    if since is not None:
        signed = signed.where(CheckpointRow.chain.in_(sorted(head)))
    last: dict[str, int] = {chain: int(seq) for chain, seq in session.execute(signed)}
    return {chain for chain, seq in head.items() if seq > last.get(chain, 0)}
