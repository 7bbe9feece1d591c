"""The evidence bundle: one signed JSON file an auditor checks with nothing but the public key.

It holds the timeline export (every entry with its hashes), the compliance report (JSON and
Markdown), the postmortem, the chain's signed checkpoints and the public key with its
fingerprint, all signed together. ``verify_bundle`` needs no store and no configuration: it
recomputes the chain, holds it to every checkpoint and checks every signature, and names the
first entry that was edited, removed, reordered or cut off. Format: ``docs/evidence.md`` and
``schemas/evidence.schema.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.errors import ValidationFailed
from orchestrator.evidence.keys import EvidenceKey, PublicKey
from orchestrator.timeline import charts, compliance, export
from orchestrator.timeline import service as timeline
from orchestrator.timeline.checkpoints import Checkpoint
from orchestrator.timeline.figures import Record
from orchestrator.timeline.postmortem import render_postmortem

__all__ = ["FORMAT", "VERSION", "BundleVerdict", "build_bundle", "canonical", "counted", "verify_bundle"]

FORMAT = "orchestrator-evidence"
VERSION = "1.0"


def counted(checkpoints: int) -> str:
    """``1 signed checkpoint``, ``3 signed checkpoints``."""
    return f"{checkpoints} signed checkpoint{'' if checkpoints == 1 else 's'}"


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes a bundle's signature covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_bundle(
    record: Record,
    *,
    checkpoints: list[Checkpoint],
    key: EvidenceKey,
    exported_at: datetime,
    disconnect_target_minutes: int,
    report_target_minutes: int,
) -> dict[str, Any]:
    """Every piece of evidence for one incident, signed as a whole by ``key``."""
    report = compliance.assess(
        record,
        now=exported_at,
        disconnect_target_minutes=disconnect_target_minutes,
        report_target_minutes=report_target_minutes,
    )
    lines = charts.clause_targets(
        disconnect_minutes=disconnect_target_minutes, report_minutes=report_target_minutes
    )
    body: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at.isoformat(timespec="microseconds"),
        "incident_id": record.incident.id,
        "public_key": {"fingerprint": key.fingerprint, "pem": key.public.pem()},
        "timeline": export.export_json(record, generated_at=exported_at),
        "compliance": {"json": report.as_dict(), "markdown": compliance.render_compliance_markdown(report)},
        "postmortem": {
            "markdown": render_postmortem(
                record,
                generated_at=exported_at,
                disconnect_target_minutes=disconnect_target_minutes,
                report_target_minutes=report_target_minutes,
            ),
            "figures_svg": charts.figures_svg(record, lines),
        },
        "checkpoints": [c.as_dict() for c in checkpoints],
    }
    return {**body, "signature": key.sign(canonical(body))}


@dataclass(frozen=True)
class _Entry:
    chain: str
    seq: int
    at: datetime
    actor: str
    kind: str
    message: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class BundleVerdict:
    """What an auditor is told: ok, or the first problem (with the entry it names, if any)."""

    incident_id: str
    entries: int
    checkpoints: int
    fingerprint: str
    problem: str | None = None
    entry: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        if self.problem is None:
            return (
                f"{self.incident_id}: ok ({self.entries} entries, {counted(self.checkpoints)}, "
                f"key {self.fingerprint})"
            )
        where = f"BROKEN at entry {self.entry}: " if self.entry is not None else "REFUSED: "
        return f"{self.incident_id}: {where}{self.problem}"


def _field(data: dict[str, Any], name: str, source: str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise ValidationFailed(f"{source}: not an evidence bundle (no '{name}')", field=name)
    return data[name]


def _entries(chain: str, rows: list[Any], source: str) -> list[_Entry]:
    try:
        return [
            _Entry(
                chain=chain,
                seq=int(row["seq"]),
                at=datetime.fromisoformat(row["at"]),
                actor=row["actor"],
                kind=row["kind"],
                message=row["message"],
                data=row["data"],
                prev_hash=row["prev_hash"],
                hash=row["hash"],
            )
            for row in rows
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"{source}: a timeline entry is malformed ({exc})", field="timeline") from None


def verify_bundle(bundle: dict[str, Any], *, public_key: PublicKey | None, source: str) -> BundleVerdict:
    """Check a bundle offline; ``public_key`` is the one the operator handed over (else the
    bundle's own, which proves integrity but not who signed: the verdict shows its fingerprint)."""
    if _field(bundle, "format", source) != FORMAT:
        raise ValidationFailed(f"{source}: not an evidence bundle (format is not '{FORMAT}')", field="format")
    embedded = PublicKey.from_pem(
        str(_field(bundle, "public_key", source).get("pem", "")).encode(), source=source
    )
    key = public_key or embedded
    body_timeline = _field(bundle, "timeline", source)
    incident_id = str(_field(bundle, "incident_id", source))
    entries = _entries(incident_id, _field(body_timeline, "entries", source), source)
    signed = [
        Checkpoint.from_dict(c)
        for c in _field(bundle, "checkpoints", source)
        if c.get("chain") == incident_id
    ]
    verdict = BundleVerdict(incident_id, len(entries), len(signed), key.fingerprint)

    def refuse(problem: str, entry: int | None = None) -> BundleVerdict:
        return BundleVerdict(incident_id, len(entries), len(signed), key.fingerprint, problem, entry)

    if key.fingerprint != embedded.fingerprint:
        return refuse(
            f"signed by key {embedded.fingerprint}, not by the key given ({key.fingerprint}): "
            "this bundle is not from the operator whose key you hold"
        )

    broken = timeline.verify_against(entries, signed, signature_ok=key.signed)
    if broken is not None:
        return refuse(broken.reason, broken.seq)
    if not signed:
        return refuse("no signed checkpoint: nothing proves how long the chain was")
    body = {name: value for name, value in bundle.items() if name != "signature"}
    if not key.verifies(str(bundle.get("signature", "")), canonical(body)):
        return refuse("the bundle's signature does not verify: the file was changed after export")
    return verdict
