"""Export one incident's evidence: sign the chain's head now, then build the signed bundle.

One function for every caller (the CLI, and the test that greps every output for planted
secrets), so what is checked is what operators hand to auditors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.config import Settings
from orchestrator.evidence.bundle import build_bundle
from orchestrator.evidence.keys import EvidenceKey
from orchestrator.incidents import service as incidents
from orchestrator.store.db import Store
from orchestrator.timeline import checkpoints
from orchestrator.timeline.figures import Record, load_record

__all__ = ["Export", "export_incident"]


@dataclass(frozen=True)
class Export:
    """The bundle, the record it was built from, and how many signed checkpoints it holds."""

    bundle: dict[str, Any]
    record: Record
    checkpoints: int


def export_incident(
    store: Store, settings: Settings, key: EvidenceKey, *, incident_id: str, now: datetime
) -> Export:
    """The incident's bundle (id or unique prefix), its head checkpointed first."""
    with store.unit_of_work() as session:
        chain = incidents.get_incident(session, incident_id=incident_id).id
        checkpoints.take(session, chain=chain, signer=key, reason="export", now=now)
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
    return Export(bundle, record, len(signed))
