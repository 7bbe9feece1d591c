"""The compliance report rendered: JSON, and Markdown with a table of the clauses, one per app."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from orchestrator.timeline.export import md_cell, md_line

if TYPE_CHECKING:
    from orchestrator.timeline.compliance import ComplianceReport

__all__ = ["render_compliance_json", "render_compliance_markdown"]


def render_compliance_json(report: ComplianceReport) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)


_MARK = {"met": "MET", "missed": "MISSED", "pending": "PENDING", "not_applicable": "N/A"}


def render_compliance_markdown(report: ComplianceReport) -> str:
    """The report as Markdown: a summary table, then each clause with its evidence entries."""
    drill = " (DRILL)" if report.is_drill else ""
    lines = [
        f"# Compliance report{drill}: {md_line(report.title)}",
        "",
        f"- Incident: `{report.incident_id}`"
        + (" — **this incident is a drill**" if report.is_drill else ""),
        f"- Generated: {report.generated_at.isoformat()}",
        "- Timeline chain: "
        + ("verified" if report.chain_verified else "**BROKEN: the evidence was altered**"),
        "- Terms: TikTok Developer Terms of Service",
        f"- Exposure census: {md_line(report.exposure or 'no census taken')}",
        "",
        "| Clause | Obligation | Status | Measured | Target |",
        "|---|---|---|---|---|",
    ]
    every = [c for c in report.clauses if c.app is None]
    for c in every:
        lines.append(
            f"| {c.clause} | {md_cell(c.title)} | **{_MARK[c.status]}** | {md_cell(c.measured)} | "
            f"{md_cell(c.target)} |"
        )
    per_app = [c for c in report.clauses if c.app is not None]
    if per_app:
        lines += ["", "## Per TikTok app", "", "| App | Clause | Obligation | Status | Measured | Finding |"]
        lines.append("|---|---|---|---|---|---|")
        lines += [
            f"| {md_cell(c.app or '')} | {c.clause} | {md_cell(c.title)} | **{_MARK[c.status]}** | "
            f"{md_cell(c.measured)} | {md_cell(c.detail)} |"
            for c in per_app
        ]
    for c in every:
        evidence = ", ".join(f"#{seq}" for seq in c.evidence) or "none"
        lines += [
            "",
            f"## {c.clause}: {c.title} — {_MARK[c.status]}",
            "",
            c.obligation,
            "",
            f"- Finding: {md_line(c.detail)}",
            f"- Evidence entries: {evidence}",
        ]
    return "\n".join(lines) + "\n"
