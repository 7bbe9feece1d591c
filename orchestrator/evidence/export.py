"""Export one incident's evidence: verify the chain, sign its head only if it holds, build the bundle.

One function for every caller (the CLI, and the test that greps every output for planted
secrets), so what is checked is what operators hand to auditors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.config import Settings
from orchestrator.evidence.bundle import build_bundle
from orchestrator.evidence.keys import EvidenceKey
from orchestrator.incidents import service as incidents
from orchestrator.store.db import Store
from orchestrator.timeline import checkpoints
from orchestrator.timeline import service as timeline
from orchestrator.timeline.checkpoints import Checkpoint
from orchestrator.timeline.figures import Record, load_record
from orchestrator.timeline.service import ChainBreak

__all__ = ["Export", "export_incident", "sign_if_intact"]


@dataclass(frozen=True)
class Export:
    """The bundle, the record it was built from, how many signed checkpoints it holds, and the
    break that kept its head from being signed anew (None: the chain held and its head is signed)."""

    bundle: dict[str, Any]
    record: Record
    checkpoints: int
    chain_break: ChainBreak | None = None


def sign_if_intact(
    session: Session, *, chain: str, key: EvidenceKey, reason: str, now: datetime
) -> tuple[Checkpoint | None, ChainBreak | None]:
    """Verify ``chain`` against its checkpoints (held to ``key``) and sign its head only if it holds.

    A checkpoint taken over a chain whose last entries were cut off, or that was rewritten, would
    vouch for the damage: once the checkpoints that contradict it are gone (SQLite has no guard
    on them), the shorter chain would verify. So a broken chain gets no new signature; the break
    is returned for the caller to say.
    """
    broken = timeline.verify_chain(session, chain, signature_ok=key.public.signed)
    if broken is not None:
        return None, broken
    return checkpoints.take(session, chain=chain, signer=key, reason=reason, now=now), None


def export_incident(
    store: Store, settings: Settings, key: EvidenceKey, *, incident_id: str, now: datetime
) -> Export:
    """The incident's bundle (id or unique prefix), its head signed first when its chain holds; a
    broken chain is exported as it is, and its bundle names the break."""
    with store.unit_of_work() as session:
        chain = incidents.get_incident(session, incident_id=incident_id).id
        _, broken = sign_if_intact(session, chain=chain, key=key, reason="export", now=now)
    with store.unit_of_work() as session:
        record = load_record(session, incident_id=chain)
        signed = checkpoints.for_chain(session, chain)
    bundle = build_bundle(
        record,
        checkpoints=signed,
        key=key,
        exported_at=now,
        disconnect_target_minutes=settings.compliance_disconnect_target_minutes,
        report_target_minutes=settings.compliance_report_target_minutes,
    )
    return Export(bundle, record, len(signed), broken)
