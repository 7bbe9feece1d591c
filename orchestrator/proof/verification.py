"""A verification's verdict: each app's counts, the timeline entry that records it.

Split from ``verify`` (which samples and probes): what a probed sample comes to, read back from
its proof rows, and the ``revocation.verified`` entry with each app's figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from orchestrator.proof.models import ProofRow, VerificationRow
from orchestrator.settings_apps import DEFAULT_APP
from orchestrator.store.db import Store
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline

__all__ = ["VERDICT_KEYS", "Verification", "finish", "results"]

VERDICT_KEYS = ("dead", "alive", "gone", "unknown")


@dataclass(frozen=True)
class Verification:
    """The outcome of one verification: counts by verdict and the survivors by fingerprint."""

    revocation_id: str | None
    revoked: int = 0
    sample_size: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # each app's figures

    @property
    def escalate(self) -> bool:
        return bool(self.survivors)

    def as_dict(self) -> dict[str, Any]:
        alive = self.counts.get("alive", 0)
        probed = sum(self.counts.get(k, 0) for k in ("dead", "alive"))
        estimate = math.ceil(alive / probed * self.revoked) if probed else 0
        return {
            "revocation_id": self.revocation_id,
            "revoked": self.revoked,
            "sample_size": self.sample_size,
            **{k: self.counts.get(k, 0) for k in ("dead", "alive", "gone", "unknown")},
            "estimated_survivors": estimate,
            "survivors": self.survivors,
            "escalate": self.escalate,
            "skipped": self.skipped,
            "apps": self.apps,
        }


def results(
    store: Store, verification_id: int
) -> tuple[dict[str, dict[str, int]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Each app's counts by verdict, the results and the survivors."""
    counts: dict[str, dict[str, int]] = {}
    results: list[dict[str, Any]] = []
    survivors: list[dict[str, Any]] = []
    with store.unit_of_work() as session:
        rows = session.scalars(
            select(ProofRow).where(ProofRow.verification_id == verification_id).order_by(ProofRow.id)
        )
        for row in rows:
            seen = {"app": row.app, "fingerprint": row.fingerprint, "open_id": row.open_id}
            if row.detail and row.detail.startswith("after revoking again"):
                survivors.append({**seen, "now": row.result})
                continue
            mine = counts.setdefault(row.app, {})
            mine[row.result] = mine.get(row.result, 0) + 1
            results.append({**seen, "result": row.result})
    return counts, results, survivors


def finish(
    store: Store,
    verification_id: int,
    result: Verification,
    results: list[dict[str, Any]],
    *,
    chain: str,
    actor: str,
    now: datetime,
) -> None:
    if result.counts.get("pending"):
        return  # cancelled part-way: a redo probes the rest
    with store.unit_of_work() as session:
        row = session.get(VerificationRow, verification_id, with_for_update=True)
        if row is None or row.status == "finished":
            return
        row.status, row.finished_at, row.escalate = "finished", now, result.escalate
        summary = result.as_dict()
        timeline.append_entry(
            session,
            chain=chain,
            actor=actor,
            kind=kinds.REVOCATION_VERIFIED,
            message=(
                f"Revocation verified by probing {result.sample_size} of {result.revoked} revoked tokens: "
                f"{summary['dead']} dead, {summary['alive']} still alive, {summary['unknown']} unknown"
                + _per_app(result)
                + (" — ESCALATED" if result.escalate else "")
            ),
            data={**summary, "results": results},
        )


def _per_app(result: Verification) -> str:
    """``; app shop (client key shop-key): 50 of 500, 50 dead, 0 alive`` for each app but a lone
    ``default``."""
    if list(result.apps) == [DEFAULT_APP]:
        return ""
    return "".join(
        f"; app {app} (client key {f['client_key']}): "
        + (
            f"{f['sample_size']} of {f['revoked']} probed, {f['dead']} dead, {f['alive']} alive"
            if "skipped" not in f
            else f"{f['revoked']} revoked, not probed (no user-info probe)"
        )
        for app, f in result.apps.items()
    )
