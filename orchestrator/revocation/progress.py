"""A running revocation's progress notes: a milestone every 10 %, TikTok failing or recovering,
a worker handing its batch back.

No thread follows a revocation: a worker whose commit settled tokens claims the note due
(``flows.take_stock``, under the revocation's lock) and writes it after that commit, tallying
first, outside the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.incidents import news
from orchestrator.ports import Ports
from orchestrator.revocation.models import RevocationRow
from orchestrator.revocation.story import note, story
from orchestrator.revocation.tally import Tally, tally
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["by_others", "due", "forget", "note_paused", "note_progress"]

_NOTE_EVERY_S = 1.0
_TALLY_SHARE = 0.1
"""The share of the time a revocation's progress tallies may take. On a million-token ledger a
tally takes seconds (tens once the updates bloat it) and a core of the database: notes then come
every ten tallies' time instead of every second."""
_tally_seconds: dict[str, float] = {}
"""Seconds the last progress tally of each running revocation took in this process."""


def forget(revocation_id: str) -> None:
    """The revocation finished: its tally time is no longer needed."""
    _tally_seconds.pop(revocation_id, None)


def note_progress(runtime: Ports, revocation_ids: Sequence[str]) -> None:
    """Tally each revocation ``flows.take_stock`` found due, then write the progress notes due.

    The tally runs before the revocation's lock is taken: every batch taking stock waits on that
    lock, and under it a million-token tally (seconds, tens once the ledger is bloated) left the
    workers queueing behind it, revoking tens of tokens a second at the end of the run.
    """
    for revocation_id in revocation_ids:
        with runtime.transaction() as session:
            current = _timed_tally(session, revocation_id)
            row = session.scalar(
                select(RevocationRow).where(RevocationRow.id == revocation_id).with_for_update(key_share=True)
            )
            now = clock.utcnow()
            if row is None or row.status == "finished":
                continue
            if _note_progress(session, row, current, now=now) and row.incident_id:
                news.changed(session, incident_id=row.incident_id, at=now)


def due(noted_at: datetime | None, now: datetime, revocation_id: str) -> bool:
    """Whether a revocation last noted at ``noted_at`` is due a progress tally: after
    ``_NOTE_EVERY_S``, or longer when its last tally here took more than ``_TALLY_SHARE`` of that."""
    if noted_at is None:
        return True
    every = max(_NOTE_EVERY_S, _tally_seconds.get(revocation_id, 0.0) / _TALLY_SHARE)
    return (now - noted_at).total_seconds() >= every


def _timed_tally(session: Session, revocation_id: str) -> Tally:
    started = clock.monotonic()
    current = tally(session, revocation_id=revocation_id)
    _tally_seconds[revocation_id] = clock.monotonic() - started
    return current


def _note_progress(session: Session, row: RevocationRow, current: Tally, *, now: datetime) -> bool:
    """A milestone every 10 %, and a note when TikTok starts (or stops) failing tokens, so a
    stalled revocation is never silent; True when one was written."""
    chain, actor = story(session, row)
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
            + by_others(current),
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
    note(
        session,
        row,
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


def by_others(current: Tally) -> str:
    """``; 40 revoked by rev-...`` for the tokens other revocations settled for this one."""
    return "".join(f"; {n} revoked by {other}" for other, n in sorted(current.by_others.items()))
