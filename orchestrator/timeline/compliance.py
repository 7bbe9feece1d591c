"""The compliance report: each relevant TikTok Developer Terms clause, its evidence, met or missed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from orchestrator import redaction
from orchestrator.proof.summary import exposure_from_entries
from orchestrator.timeline import kinds
from orchestrator.timeline.compliance_apps import Send, app_facts, number
from orchestrator.timeline.compliance_render import render_compliance_json, render_compliance_markdown
from orchestrator.timeline.figures import Record, duration_text, key_figures

__all__ = [
    "TIKTOK_DEFAULT_RATE_PER_S",
    "ClauseResult",
    "ComplianceReport",
    "Status",
    "assess",
    "render_compliance_json",
    "render_compliance_markdown",
    "scan_for_secrets",
]

Status = Literal["met", "missed", "pending", "not_applicable"]

TIKTOK_DEFAULT_RATE_PER_S = 10.0
"""TikTok's documented default for its v2 endpoints: 600 requests per minute."""

_RATE_TOLERANCE = 1.05  # measured rates include start-up jitter; 5 % over the limit is noise


@dataclass(frozen=True)
class ClauseResult:
    """One clause: what it asks, whether it was met, the measured figure and its evidence."""

    clause: str
    title: str
    obligation: str
    status: Status
    measured: str
    target: str
    detail: str
    evidence: list[int]
    app: str | None = None  # a row of one TikTok app ("shop (client key shop-key)"); None: every app


class _Finding(NamedTuple):
    status: Status
    measured: str
    target: str
    detail: str
    evidence: list[int]


@dataclass(frozen=True)
class ComplianceReport:
    """Every clause result for one incident, as of ``generated_at``."""

    incident_id: str
    title: str
    is_drill: bool
    generated_at: datetime
    chain_verified: bool
    clauses: list[ClauseResult]
    exposure: str | None = None  # "exposed at awareness: N; still exposed now: M" (latest census)

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "title": self.title,
            "is_drill": self.is_drill,
            "generated_at": self.generated_at.isoformat(),
            "chain_verified": self.chain_verified,
            "exposure": self.exposure,
            "clauses": [asdict(clause) for clause in self.clauses],
        }


def _seqs(record: Record, *wanted: str) -> list[int]:
    return [entry.seq for entry in record.entries if entry.kind in wanted]


def _timed(
    record: Record,
    *,
    what: str,
    took: timedelta | None,
    target_minutes: int,
    now: datetime,
    evidence: list[int],
) -> _Finding:
    target, limit = f"{target_minutes} min", timedelta(minutes=target_minutes)  # as configured
    if took is not None:
        status: Status = "met" if took <= limit else "missed"
        margin = f"{duration_text(abs(limit - took))} {'within' if took <= limit else 'over'} the target"
        detail = f"{what} {duration_text(took)} after awareness, {margin}"
        return _Finding(status, duration_text(took), target, detail, evidence)
    waited = now - record.incident.aware_at
    shown, since = (
        f"not yet ({duration_text(waited)})",
        f"not {what} yet, {duration_text(waited)} after awareness",
    )
    if waited > limit:
        detail = f"{since}: {duration_text(waited - limit)} over the target"
        return _Finding("missed", shown, target, detail, evidence)
    detail = f"{since}; the target has not passed"
    return _Finding("pending", shown, target, detail, evidence)


def scan_for_secrets(record: Record) -> list[tuple[int, str]]:
    """Entries holding something token-shaped, a registered secret or a secret-keyed value.

    Returns ``(seq, where)`` pairs and never the secret itself.
    """
    found: list[tuple[int, str]] = []

    def walk(value: Any, path: str, seq: int) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                sub = f"{path}.{key}"
                if (
                    isinstance(key, str)
                    and isinstance(item, str)
                    and item not in ("", redaction.REDACTED)
                    and redaction.is_secret_key(key)
                ):
                    found.append((seq, sub))
                else:
                    walk(item, sub, seq)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]", seq)
        elif isinstance(value, str) and redaction.redact_text(value) != value:
            found.append((seq, path))

    for entry in record.entries:
        walk(entry.message, "message", entry.seq)
        walk(entry.actor, "actor", entry.seq)
        walk(entry.data or {}, "data", entry.seq)
    return found


def _confidentiality(record: Record) -> _Finding:
    found = scan_for_secrets(record)
    masked = sum(
        json.dumps(e.data).count(redaction.REDACTED) + e.message.count(redaction.REDACTED)
        for e in record.entries
    )
    scanned = f"{len(record.entries)} entries scanned for token shapes, registered secrets and secret keys"
    if found:
        where = ", ".join(f"entry {seq} ({path})" for seq, path in found[:10])
        return _Finding(
            "missed",
            f"{len(found)} finding(s)",
            "0 findings",
            f"{scanned}: secret-looking values in {where}",
            sorted({seq for seq, _ in found}),
        )
    return _Finding(
        "met",
        "0 findings",
        "0 findings",
        f"{scanned}: none found; {masked} value(s) were masked when written",
        [],
    )


def _deletion(record: Record) -> _Finding:
    purges = [e for e in record.entries if e.kind == kinds.PURGE_FINISHED]
    failed = [
        e
        for e in record.entries
        if e.kind == kinds.STEP_FAILED and "purge" in str((e.data or {}).get("action", ""))
    ]
    if purges:
        tokens = round(sum(number((e.data or {}).get("tokens_deleted")) for e in purges))
        tables = sum(len((e.data or {}).get("records_deleted") or {}) for e in purges)
        return _Finding(
            "met",
            f"{tokens} tokens deleted",
            "purge finished",
            f"{len(purges)} purge(s) finished: {tokens} tokens deleted, records deleted from {tables} "
            "table(s)",
            [e.seq for e in purges],
        )
    if failed:
        return _Finding(
            "missed",
            "purge failed",
            "purge finished",
            f"a purge step failed {len(failed)} time(s) and none finished",
            [e.seq for e in failed],
        )
    return _Finding("not_applicable", "no purge", "-", "no purge ran for this incident", [])


def _request_volume(record: Record) -> _Finding:
    """Each finished revocation's request rate against the limit in force for it (``rate_per_s``)."""
    started = {
        (e.data or {}).get("revocation_id"): e for e in record.entries if e.kind == kinds.REVOCATION_STARTED
    }
    sends = []
    for entry in (e for e in record.entries if e.kind == kinds.REVOCATION_FINISHED):
        data = entry.data or {}
        start = started.get(data.get("revocation_id"))
        sent = data.get("requests")  # tokens other revocations settled cost this one no request
        requests = round(
            number(sent)
            if sent is not None
            else sum(number(data.get(k)) for k in ("revoked", "already_dead", "failed"))
        )
        limit = number((start.data or {}).get("rate_per_s")) if start is not None else 0.0
        seconds = max(number(data.get("duration_ms")) / 1000, 1.0)
        evidence = ([start.seq] if start is not None else []) + [entry.seq]
        sends.append(Send(str(data.get("revocation_id")), requests, seconds, limit, evidence))
    return _judge_volume(sends, alarms=_seqs(record, kinds.REVOCATION_ALARM))


def _judge_volume(sends: list[Send], *, alarms: list[int]) -> _Finding:
    """Requests per second against the limit in force; rate 0 (no client-side limit: simulators,
    benchmarks) is not judged, only compared in words."""
    if not sends:
        return _Finding("not_applicable", "no revocation", "-", "no revocation finished", [])
    worst_ratio, judged, lines, evidence = 0.0, 0, [], list(alarms)
    for send in sends:
        rate = round(send.requests / send.seconds, 2)
        line = f"{send.revocation_id}: {send.requests} requests in {send.seconds:g} s = {rate}/s"
        if send.limit > 0:
            judged += 1
            worst_ratio = max(worst_ratio, rate / send.limit)
            lines.append(f"{line} (limit in force {send.limit:g}/s)")
        else:
            default = round(rate / TIKTOK_DEFAULT_RATE_PER_S * 100)
            lines.append(
                f"{line} with no client-side limit in force (rate 0: a simulator or benchmark), not judged; "
                f"against TikTok's documented 600/min it would be {default} %"
            )
        evidence += send.evidence
    if not judged:
        return _Finding("not_applicable", "no limit in force", "-", "; ".join(lines), sorted(evidence))
    status: Status = "met" if worst_ratio <= _RATE_TOLERANCE else "missed"
    over = "" if status == "met" else f"; {round((worst_ratio - 1) * 100)} % over the limit"
    return _Finding(
        status,
        f"{round(worst_ratio * 100)} % of the limit",
        "<= 100 % of the limit in force",
        "; ".join(lines) + over,
        sorted(evidence),
    )


def _tickets(record: Record) -> list[Any]:
    """Completed manual steps whose input is TikTok's support ticket id (``evidence: report``)."""
    return [
        e
        for e in record.entries
        if e.kind == kinds.MANUAL_COMPLETED
        and (e.data or {}).get("evidence") == "report"
        and (e.data or {}).get("evidence_value")
    ]


def _reporting(record: Record, *, took: timedelta | None, target_minutes: int, now: datetime) -> _Finding:
    """Reported when the report was delivered or a person filed it in TikTok's portal (a ticket id)."""
    tickets = _tickets(record)
    if tickets:
        filed = tickets[0].at - record.incident.aware_at
        took = filed if took is None else min(took, filed)
    evidence = _seqs(record, kinds.INCIDENT_OPENED, kinds.REPORT_DELIVERED, kinds.REPORT_FAILED)
    found = _timed(
        record,
        what="reported",
        took=took,
        target_minutes=target_minutes,
        now=now,
        evidence=sorted(evidence + [e.seq for e in tickets]),
    )
    if not tickets:
        return found
    cited = "; ".join(
        f"TikTok support ticket {redaction.redact_text(str((e.data or {})['evidence_value']))} "
        f"recorded by {e.actor} (entry #{e.seq})"
        for e in tickets
    )
    return found._replace(detail=f"{found.detail}; evidence of reporting: {cited}")


_CLAUSES: dict[str, tuple[str, str, str]] = {
    # key: (clause of TikTok's Developer Terms, title, what it asks)
    "disconnect": (
        "III.2(f)",
        "Disconnect immediately",
        "On awareness of a compromise, disconnect from TikTok.",
    ),
    "report": ("III.2(f)", "Report immediately", "On awareness of a compromise, report it to TikTok."),
    "confidentiality": (
        "IV",
        "Confidentiality",
        "Authentication data is TikTok's confidential information: it never leaks.",
    ),
    "deletion": (
        "VI",
        "Deletion",
        "Delete TikTok information in all forms when use ends (where a purge ran).",
    ),
    "volume": ("III.3(g)", "Request volume", "No excessive request volume against TikTok's APIs."),
}


def assess(
    record: Record, *, disconnect_target_minutes: int, report_target_minutes: int, now: datetime
) -> ComplianceReport:
    """Judge every clause from the record alone; ``now`` decides whether an open deadline passed."""
    figures = key_figures(record)
    findings = {
        "disconnect": _timed(
            record,
            what="disconnected",
            took=figures.awareness_to_disconnect,
            target_minutes=disconnect_target_minutes,
            now=now,
            evidence=_seqs(record, kinds.INCIDENT_OPENED, kinds.SWITCH_ENGAGED),
        ),
        "report": _reporting(
            record, took=figures.awareness_to_report, target_minutes=report_target_minutes, now=now
        ),
        "confidentiality": _confidentiality(record),
        "deletion": _deletion(record),
        "volume": _request_volume(record),
    }
    rows: list[tuple[str | None, dict[str, _Finding]]] = [(None, findings)]
    for app in app_facts(record):  # a row per app and clause: its switch, its client key's volume
        took = app.disconnected.at - record.incident.aware_at if app.disconnected is not None else None
        covered = [app.disconnected.seq] if app.disconnected is not None else []
        mine = {
            **findings,
            "disconnect": _timed(
                record,
                what="disconnected",
                took=took,
                target_minutes=disconnect_target_minutes,
                now=now,
                evidence=sorted(_seqs(record, kinds.INCIDENT_OPENED) + covered),
            ),
            "volume": _judge_volume(app.sends, alarms=[]),
        }
        rows.append((app.label, mine))
    clauses = [
        ClauseResult(
            *_CLAUSES[key],
            status=found.status,
            measured=found.measured,
            target=found.target,
            detail=found.detail,
            evidence=found.evidence,
            app=label,
        )
        for label, found_by_key in rows
        for key, found in found_by_key.items()
    ]
    return ComplianceReport(
        incident_id=record.incident.id,
        title=record.incident.title,
        is_drill=record.incident.is_drill,
        generated_at=now,
        chain_verified=record.verified,
        clauses=clauses,
        exposure=exposure.sentence() if (exposure := exposure_from_entries(record.entries)) else None,
    )
