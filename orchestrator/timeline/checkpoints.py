"""Signed checkpoints of a chain's head: what lets a reader notice that the last entries were cut off.

A hash chain proves every entry up to its last one, but not that the last one is the real end.
A checkpoint is a signature over (chain, seq, head hash, time): once signed and handed out (the
Slack card, the report email to TikTok, an evidence bundle), a chain that no longer reaches that
seq, or whose entry at that seq has another hash, is broken however its links look.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestrator.store.db import Base, UTCDateTime
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow

__all__ = [
    "MILESTONES",
    "Checkpoint",
    "CheckpointRow",
    "Signer",
    "against_checkpoints",
    "for_chain",
    "latest",
    "signed_message",
    "take",
]

MILESTONES: frozenset[str] = frozenset(
    {
        kinds.INCIDENT_OPENED,
        kinds.SWITCH_ENGAGED,
        kinds.SWITCH_RELEASED,
        kinds.REVOCATION_FINISHED,
        kinds.REPORT_DELIVERED,
        kinds.PURGE_FINISHED,
        kinds.INCIDENT_RESOLVED,
        kinds.INCIDENT_CLOSED,
    }
)
"""Lifecycle facts after which the head is checkpointed on the next tick (a second), not the next minute."""


class Signer(Protocol):
    """What signs checkpoints: an Ed25519 key (``orchestrator.evidence.keys``) or a fake."""

    @property
    def fingerprint(self) -> str: ...

    def sign(self, message: bytes) -> str: ...


class CheckpointRow(Base):
    """One signed head of one chain; append-only like the entries it vouches for."""

    __tablename__ = "timeline_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(32), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(80))
    signature: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class Checkpoint:
    """A signed head as every reader sees it (store row, bundle, email, Slack card)."""

    chain: str
    seq: int
    head_hash: str
    at: str
    reason: str
    key_fingerprint: str
    signature: str

    @classmethod
    def of(cls, row: CheckpointRow) -> Checkpoint:
        return cls(
            chain=row.chain,
            seq=row.seq,
            head_hash=row.head_hash,
            at=row.at.isoformat(timespec="microseconds"),
            reason=row.reason,
            key_fingerprint=row.key_fingerprint,
            signature=row.signature,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def message(self) -> bytes:
        return signed_message(chain=self.chain, seq=self.seq, head_hash=self.head_hash, at=self.at)

    def line(self) -> str:
        """One line for a card or an email: enough to prove the chain's length later."""
        return (
            f"checkpoint: entry {self.seq}, head {self.head_hash[:16]}…, signed {self.at[:19]}Z "
            f"by key {self.key_fingerprint[:23]}…"
        )


def signed_message(*, chain: str, seq: int, head_hash: str, at: str) -> bytes:
    """The bytes a checkpoint's signature covers: canonical JSON (sorted keys, no spaces, UTF-8)."""
    body = {
        "type": "timeline-checkpoint",
        "v": 1,
        "chain": chain,
        "seq": seq,
        "head_hash": head_hash,
        "at": at,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def latest(session: Session, chain: str) -> Checkpoint | None:
    row = session.scalars(
        select(CheckpointRow).where(CheckpointRow.chain == chain).order_by(CheckpointRow.id.desc()).limit(1)
    ).first()
    return Checkpoint.of(row) if row is not None else None


def for_chain(session: Session, chain: str) -> list[Checkpoint]:
    rows = session.scalars(
        select(CheckpointRow).where(CheckpointRow.chain == chain).order_by(CheckpointRow.id)
    )
    return [Checkpoint.of(row) for row in rows]


def take(session: Session, *, chain: str, signer: Signer, reason: str, now: datetime) -> Checkpoint | None:
    """Sign the chain's current head: None when the chain has no entry, or when it no longer
    reaches its last checkpoint's entry with that entry's hash (cut off or rewritten: a signature
    now would vouch for that); the existing checkpoint when that head is signed already."""
    head = session.scalars(
        select(TimelineEntryRow)
        .where(TimelineEntryRow.chain == chain)
        .order_by(TimelineEntryRow.seq.desc())
        .limit(1)
    ).first()
    if head is None:
        return None
    last = latest(session, chain)
    if last is not None and last.seq == head.seq:
        return last
    if last is not None:
        held = session.scalar(
            select(TimelineEntryRow.hash).where(
                TimelineEntryRow.chain == chain, TimelineEntryRow.seq == last.seq
            )
        )
        if held != last.head_hash:
            return None
    at = now.isoformat(timespec="microseconds")
    signature = signer.sign(signed_message(chain=chain, seq=head.seq, head_hash=head.hash, at=at))
    row = CheckpointRow(
        chain=chain,
        seq=head.seq,
        head_hash=head.hash,
        at=now,
        reason=reason[:64],
        key_fingerprint=signer.fingerprint,
        signature=signature,
    )
    session.add(row)
    return Checkpoint.of(row)


class _Entry(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def hash(self) -> str: ...


def against_checkpoints(
    entries: Sequence[_Entry],
    checkpoints: Sequence[Checkpoint],
    *,
    signature_ok: Callable[[Checkpoint], bool] | None = None,
) -> tuple[int, str] | None:
    """The first entry a checkpoint contradicts, as (seq, reason); None when every one holds.

    ``entries`` is the chain in order and already verified link by link. ``signature_ok``
    (given a public key) refuses checkpoints not signed by it: a forged checkpoint proves nothing.
    """
    by_seq = {entry.seq: entry for entry in entries}
    last = entries[-1].seq if entries else 0
    for checkpoint in sorted(checkpoints, key=lambda c: c.seq):
        if signature_ok is not None and not signature_ok(checkpoint):
            return checkpoint.seq, (
                f"the checkpoint of entry {checkpoint.seq} is not signed by the expected key (forged?)"
            )
        if checkpoint.seq > last:
            return last + 1, (
                f"entries {last + 1}..{checkpoint.seq} are missing: the chain was cut off after entry "
                f"{last}, but entry {checkpoint.seq} was checkpointed at {checkpoint.at}"
            )
        entry = by_seq.get(checkpoint.seq)
        if entry is None or entry.hash != checkpoint.head_hash:
            return checkpoint.seq, "does not match its signed checkpoint (the chain was rewritten)"
    return None
