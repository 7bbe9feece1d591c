"""The exposure census: how many tokens in scope are connected, revoked, proven dead or still live.

A census belongs to a chain (an incident id, or a run id for a run without an incident) and
is taken at awareness and after each phase of the disconnect. Counts are by distinct token
fingerprint: the latest ledger row of each token over the chain's revocations, and its
latest conclusive proof (a probe or TikTok's receipt). ``still_exposed`` counts the tokens
an attacker may still use: not yet revoked, failed to revoke, or found still working.

With several TikTok apps the census counts each app of the chain on its own too (``apps``: its
client key, never the secret, and its figures); the headline counts are their sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from orchestrator import clock
from orchestrator.proof.models import CensusRow, ProofRow, VerificationRow
from orchestrator.proof.summary import COUNT_LABELS, exposure_sentence
from orchestrator.revocation.members import ledger_rows_of
from orchestrator.revocation.models import LedgerRow, RevocationRow
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import TimelineEntryRow

__all__ = [
    "Census",
    "CensusApp",
    "count_census",
    "escalated",
    "latest_census",
    "revocation_ids",
    "take_census",
]

CONCLUSIVE = ("dead", "alive", "gone")


class CensusApp(NamedTuple):
    """One app counted: its name, client key and how many of its tokens are in scope (None: unknown)."""

    name: str
    client_key: str | None
    connected: int | None


@dataclass(frozen=True)
class Census:
    """Counts of one moment (``phase``) of a chain; ``None`` where a count is not known."""

    chain: str
    phase: str
    counts: dict[str, int | None] = field(default_factory=dict)
    exposed_at_awareness: int | None = None
    still_exposed: int | None = None
    escalate: bool = False
    taken_at: datetime | None = None  # set on a stored census (``latest_census``)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # each app's client key and figures

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            **self.counts,
            "exposed_at_awareness": self.exposed_at_awareness,
            "still_exposed": self.still_exposed,
            "escalate": self.escalate,
            "apps": self.apps,
        }

    def sentence(self) -> str:
        """``exposed at awareness: N; still exposed now: M``, then each app's (but a lone ``default``)."""
        said = exposure_sentence(self.exposed_at_awareness, self.still_exposed)
        if list(self.apps) in ([], [DEFAULT_APP]):
            return said
        return said + "".join(
            f"; app {app} (client key {f['client_key']}): {f['still_exposed']} still exposed of "
            f"{'unknown' if f['connected'] is None else f['connected']}"
            for app, f in self.apps.items()
        )

    def lines(self) -> list[str]:
        """Plain text lines for the CLI: the headline, then each count."""
        out = [f"census ({self.phase}): {self.sentence()}"]
        for key, label in COUNT_LABELS:
            value = self.counts.get(key)
            out.append(f"  {label}: {'-' if value is None else value}")
        if self.escalate:
            out.append("  ESCALATED: a revoked token still worked; a person must look")
        return out


def revocation_ids(session: Session, *, chain: str) -> list[str]:
    """The revocations of an incident (or of a run without an incident), oldest first."""
    rows = session.execute(
        select(RevocationRow.id)
        .where(
            or_(
                RevocationRow.incident_id == chain,
                (RevocationRow.incident_id.is_(None)) & (RevocationRow.run_id == chain),
            )
        )
        .order_by(RevocationRow.created_at)
    )
    return [row_id for (row_id,) in rows]


def _ledger_counts(session: Session, ids: list[str]) -> dict[str, dict[str, int]]:
    """Each app's tokens by ledger status."""
    tokens = ledger_rows_of(ids, LedgerRow.id).distinct()  # a token in two of the chain's scopes counts once
    rows = session.execute(
        select(LedgerRow.app, LedgerRow.status, func.count())
        .where(LedgerRow.id.in_(tokens))
        .group_by(LedgerRow.app, LedgerRow.status)
    )
    out: dict[str, dict[str, int]] = {}
    for app, status, n in rows:
        out.setdefault(str(app), {})[str(status)] = int(n)
    return out


def _proof_counts(session: Session, ids: list[str]) -> dict[str, dict[str, int]]:
    """Each app's tokens by their latest conclusive proof."""
    latest = (
        select(func.max(ProofRow.id))
        .where(ProofRow.revocation_id.in_(ids), ProofRow.result.in_(CONCLUSIVE))
        .group_by(ProofRow.app, ProofRow.fingerprint)
    )
    rows = session.execute(
        select(ProofRow.app, ProofRow.result, func.count())
        .where(ProofRow.id.in_(latest))
        .group_by(ProofRow.app, ProofRow.result)
    )
    out: dict[str, dict[str, int]] = {}
    for app, result, n in rows:
        out.setdefault(str(app), {})[str(result)] = int(n)
    return out


def _summed(by_app: dict[str, dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in by_app.values():
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return total


def _figures(
    ledger: dict[str, int], proofs: dict[str, int], connected: int | None, *, planning: bool
) -> dict[str, int | None]:
    """The counts of one app (or of all), with what is still exposed."""
    counts: dict[str, int | None] = {
        "connected": connected,
        "revoked": ledger.get("revoked", 0),
        "already_dead": ledger.get("already_dead", 0),
        "failed": ledger.get("failed", 0) + ledger.get("grant_lost", 0),
        "gone": ledger.get("gone", 0),
        "pending": ledger.get("pending", 0) + ledger.get("sending", 0),
        "confirmed_dead": proofs.get("dead", 0) + proofs.get("gone", 0),
        "still_live": proofs.get("alive", 0),
    }
    # tokens a revocation still planning has not reached yet are exposed too
    unplanned = max(0, connected - sum(ledger.values())) if planning and connected is not None else 0
    counts["still_exposed"] = unplanned + sum(counts[k] or 0 for k in ("pending", "failed", "still_live"))
    return counts


def _purged(session: Session, chain: str) -> int:
    rows = session.scalars(
        select(TimelineEntryRow.data).where(
            TimelineEntryRow.chain == chain, TimelineEntryRow.kind == kinds.PURGE_FINISHED
        )
    )
    total = 0
    for data in rows:
        value = data.get("tokens_deleted") if isinstance(data, dict) else None
        total += value if isinstance(value, int) else 0
    return total


def escalated(session: Session, *, chain: str) -> bool:
    """Whether a verification on this chain found a revoked token still working (a person must look)."""
    return bool(
        session.scalar(
            select(func.count()).where(VerificationRow.chain == chain, VerificationRow.escalate.is_(True))
        )
    )


def count_census(
    session: Session,
    *,
    chain: str,
    phase: str,
    connected: int | None,
    apps: Sequence[CensusApp] = (),
) -> Census:
    """Count the chain's tokens now, without storing anything; ``connected`` comes from the
    inventory (of every app of ``apps``, each counted on its own too)."""
    ids = revocation_ids(session, chain=chain)
    by_app = _ledger_counts(session, ids) if ids else {}
    proofs_by_app = _proof_counts(session, ids) if ids else {}
    ledger, proofs = _summed(by_app), _summed(proofs_by_app)
    counts = _figures(ledger, proofs, connected, planning=False)
    counts.pop("still_exposed")
    counts["purged"] = _purged(session, chain)
    first = session.scalars(select(CensusRow).where(CensusRow.chain == chain).order_by(CensusRow.id)).first()
    planned = session.scalar(select(RevocationRow.planned).where(RevocationRow.id == ids[0])) if ids else None
    if first is not None and isinstance(first.counts.get("exposed_at_awareness"), int):
        exposed_at_awareness: int | None = first.counts["exposed_at_awareness"]
    else:  # the first census: the inventory's count, else what the first revocation planned
        exposed_at_awareness = connected if connected is not None else planned
    planning = bool(ids) and bool(
        session.scalar(
            select(func.count()).where(RevocationRow.id.in_(ids), RevocationRow.plan_done.is_(False))
        )
    )
    if ids:
        still_exposed = _figures(ledger, proofs, connected, planning=planning)["still_exposed"]
    else:
        still_exposed = connected if connected is not None else exposed_at_awareness
    figures: dict[str, dict[str, Any]] = {}
    for app in apps:
        mine = _figures(
            by_app.get(app.name, {}), proofs_by_app.get(app.name, {}), app.connected, planning=planning
        )
        if not ids:
            mine["still_exposed"] = app.connected
        figures[app.name] = {"client_key": app.client_key, **mine}
    return Census(
        chain,
        phase,
        counts,
        exposed_at_awareness,
        still_exposed,
        escalated(session, chain=chain),
        apps=figures,
    )


def take_census(
    session: Session,
    *,
    chain: str,
    phase: str,
    connected: int | None,
    actor: str,
    apps: Sequence[CensusApp] = (),
) -> Census:
    """Count, store the snapshot and put it on the chain's timeline, in the caller's transaction."""
    census = count_census(session, chain=chain, phase=phase, connected=connected, apps=apps)
    session.add(CensusRow(chain=chain, phase=phase, taken_at=clock.utcnow(), counts=census.as_dict()))
    timeline.append_entry(
        session,
        chain=chain,
        actor=actor,
        kind=kinds.CENSUS,
        message=f"Census after {phase}: {census.sentence()}",
        data=census.as_dict(),
    )
    return census


def latest_census(session: Session, *, chain: str) -> Census | None:
    """The last stored census of a chain (an incident id or a run id), or None."""
    row = session.scalars(
        select(CensusRow).where(CensusRow.chain == chain).order_by(CensusRow.id.desc())
    ).first()
    if row is None:
        return None
    data = dict(row.counts)
    return Census(
        chain=chain,
        phase=row.phase,
        counts={key: data.get(key) for key, _ in COUNT_LABELS},
        exposed_at_awareness=data.get("exposed_at_awareness"),
        still_exposed=data.get("still_exposed"),
        escalate=bool(data.get("escalate")),
        taken_at=row.taken_at,
        apps=dict(data.get("apps") or {}),
    )
