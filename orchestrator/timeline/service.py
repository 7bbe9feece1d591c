"""Append timeline entries to a hash chain and verify chains; secrets never enter.

Each entry's hash covers a canonical JSON encoding of the entry and the previous
entry's hash, so an edit, deletion or reordering breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from orchestrator import clock, redaction
from orchestrator.store.db import transaction_scoped
from orchestrator.timeline import checkpoints
from orchestrator.timeline.models import TimelineEntryRow

__all__ = [
    "GENESIS",
    "ChainBreak",
    "append_entry",
    "count",
    "data_of",
    "entries",
    "entry_hash",
    "new_chain",
    "page",
    "prime_tails",
    "verify_against",
    "verify_chain",
    "verify_entries",
]

GENESIS = "0" * 64
_TAILS = "timeline.tails"  # transaction_scoped: chain -> (seq, hash, at) this transaction last wrote


def _canonical(value: Any) -> Any:
    """JSON-normal form: what the JSON column will give back when read."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def entry_hash(
    *,
    chain: str,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    message: str,
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical encoding of an entry and its predecessor's hash."""
    body = {
        "chain": chain,
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "kind": kind,
        "message": message,
        "data": data,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def append_entry(
    session: Session,
    *,
    chain: str,
    actor: str,
    kind: str,
    message: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEntryRow:
    """Append one redacted fact to ``chain`` inside the caller's transaction.

    ``at`` is when the fact happened (default: now, read once the chain's tail is held). A fact
    stamped earlier than the entry before it (its writer read the time, then waited for the
    chain's turn behind a later fact) takes that entry's time: the order of a chain's entries
    always agrees with their times, and the difference is the wait, never more.

    The chain's tail is read (under a per-chain lock on PostgreSQL; SQLite's write lock already
    serialises) once per transaction; later appends to the same chain in that transaction
    continue from the tail this one wrote.
    """
    tails = _tails(session)
    if chain not in tails:
        prime_tails(session, [chain])
    last_seq, prev, last_at = tails[chain]
    seq = last_seq + 1
    when = at or clock.utcnow()
    if last_at is not None and when < last_at:
        when = last_at
    clean_data = _canonical(redaction.redact(data or {}))
    clean_message = redaction.redact_text(message)
    row = TimelineEntryRow(
        chain=chain,
        seq=seq,
        at=when,
        actor=actor,
        kind=kind,
        message=clean_message,
        data=clean_data,
        prev_hash=prev,
        hash=entry_hash(
            chain=chain,
            seq=seq,
            at=when,
            actor=actor,
            kind=kind,
            message=clean_message,
            data=clean_data,
            prev_hash=prev,
        ),
    )
    session.add(row)  # inserted with the next flush: a transaction's entries go in one statement
    tails[chain] = (seq, row.hash, when)
    return row


def _tails(session: Session) -> dict[str, tuple[int, str, datetime | None]]:
    return transaction_scoped(session, _TAILS, dict)


def prime_tails(session: Session, chains: Iterable[str]) -> None:
    """Read the tails of ``chains`` this transaction will append to, in one statement (and on
    PostgreSQL lock them, in sorted order, in one more) rather than one or two per chain: a
    worker correlating a message appends to the chain of every incident it touches."""
    tails = _tails(session)
    wanted = sorted({c for c in chains if c not in tails})
    if not wanted:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT count(pg_advisory_xact_lock(hashtext(c))) FROM unnest(CAST(:cs AS text[])) AS c"),
            {"cs": wanted},
        )
    last = (
        select(TimelineEntryRow.chain, func.max(TimelineEntryRow.seq).label("seq"))
        .where(TimelineEntryRow.chain.in_(wanted))
        .group_by(TimelineEntryRow.chain)
        .subquery()
    )
    found = session.execute(
        select(TimelineEntryRow.chain, TimelineEntryRow.seq, TimelineEntryRow.hash, TimelineEntryRow.at).join(
            last, (TimelineEntryRow.chain == last.c.chain) & (TimelineEntryRow.seq == last.c.seq)
        )
    )
    for chain, seq, hash_, at in found:
        tails[chain] = (seq, hash_, at)
    for chain in wanted:
        tails.setdefault(chain, (0, GENESIS, None))


def new_chain(session: Session, chain: str) -> None:
    """``chain`` was made in this transaction (a new incident's id): it has no tail to read."""
    _tails(session).setdefault(chain, (0, GENESIS, None))


def entries(session: Session, chain: str) -> list[TimelineEntryRow]:
    """Every entry of a chain in order."""
    return list(
        session.scalars(
            select(TimelineEntryRow).where(TimelineEntryRow.chain == chain).order_by(TimelineEntryRow.id)
        )
    )


def data_of(session: Session, *, chain: str, kind: str) -> list[dict[str, Any]]:
    """The ``data`` of a chain's entries of ``kind``, in order (a chain's facts of one kind)."""
    query = (
        select(TimelineEntryRow.data)
        .where(TimelineEntryRow.chain == chain, TimelineEntryRow.kind == kind)
        .order_by(TimelineEntryRow.id)
    )
    return [data or {} for data in session.scalars(query)]


def page(
    session: Session, chain: str, *, number: int, size: int, without: Collection[str] = ()
) -> tuple[list[TimelineEntryRow], int]:
    """Page ``number`` of a chain counted from its end (1: the latest ``size`` entries), in order,
    leaving out the kinds ``without``; and how many entries all its pages hold."""
    where = [TimelineEntryRow.chain == chain]
    if without:
        where.append(TimelineEntryRow.kind.not_in(sorted(without)))
    total = session.scalar(select(func.count()).select_from(TimelineEntryRow).where(*where)) or 0
    rows = session.scalars(
        select(TimelineEntryRow)
        .where(*where)
        .order_by(TimelineEntryRow.id.desc())
        .offset((max(number, 1) - 1) * size)
        .limit(size)
    )
    return list(rows)[::-1], int(total)


def count(session: Session, chain: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(TimelineEntryRow).where(TimelineEntryRow.chain == chain)
        )
        or 0
    )


@dataclass(frozen=True)
class ChainBreak:
    """The first entry whose hash or link does not hold, and why."""

    seq: int
    reason: str


class _Stored(Protocol):
    """An entry as stored or exported: what its hash covers, and the hash."""

    @property
    def chain(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


def verify_entries(chain_entries: Sequence[_Stored]) -> ChainBreak | None:
    """Recompute a chain given in order; the first break, or None. Needs no store (offline use)."""
    prev = GENESIS
    expected_seq = 1
    for row in chain_entries:
        if row.seq != expected_seq:
            return ChainBreak(row.seq, f"expected entry {expected_seq} here, found {row.seq}")
        if row.prev_hash != prev:
            return ChainBreak(row.seq, "does not link to the previous entry")
        recomputed = entry_hash(
            chain=row.chain,
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            kind=row.kind,
            message=row.message,
            data=row.data,
            prev_hash=row.prev_hash,
        )
        if recomputed != row.hash:
            return ChainBreak(row.seq, "content does not match its hash (edited)")
        prev = row.hash
        expected_seq += 1
    return None


def verify_against(
    chain_entries: Sequence[_Stored],
    signed: Sequence[checkpoints.Checkpoint],
    *,
    signature_ok: Callable[[checkpoints.Checkpoint], bool] | None = None,
) -> ChainBreak | None:
    """``verify_entries``, then every checkpoint: a chain cut off or rewritten past one is broken."""
    found = verify_entries(chain_entries)
    if found is not None:
        return found
    contradicted = checkpoints.against_checkpoints(chain_entries, signed, signature_ok=signature_ok)
    return None if contradicted is None else ChainBreak(*contradicted)


def verify_chain(
    session: Session,
    chain: str,
    *,
    signature_ok: Callable[[checkpoints.Checkpoint], bool] | None = None,
) -> ChainBreak | None:
    """Recompute the chain in insertion order and hold it to its checkpoints; the first break."""
    return verify_against(
        entries(session, chain), checkpoints.for_chain(session, chain), signature_ok=signature_ok
    )
