"""The postmortem draft in Markdown: facts from the timeline, then the sections the team fills in."""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.proof.summary import exposure_from_entries
from orchestrator.timeline import charts, kinds
from orchestrator.timeline.export import md_cell, md_line, md_text
from orchestrator.timeline.figures import (
    KEY_TIMES,
    Record,
    actors,
    duration_text,
    impact,
    key_figures,
)

__all__ = ["POSTMORTEM_SECTIONS", "render_postmortem"]

POSTMORTEM_SECTIONS = (
    "Summary",
    "Impact",
    "Key times and durations",
    "Picture",
    "Who did what",
    "Status updates",
    "Timeline",
    "Root cause",
    "Lessons",
    "Follow-ups",
)

_TO_FILL = "_To be written by the team._"


def _duration(label: str, value: timedelta | None, target: int | None = None) -> str:
    shown = "not yet" if value is None else duration_text(value)
    if target is not None:
        shown += f" (target {target} min)"  # as configured
    return f"- {label}: **{shown}**"


def render_postmortem(
    record: Record,
    *,
    generated_at: datetime,
    disconnect_target_minutes: int | None = None,
    report_target_minutes: int | None = None,
    figures_file: str | None = None,
) -> str:
    """Every section of ``POSTMORTEM_SECTIONS``; facts filled in, judgement left to people.

    The Picture section is the incident's time axis and revocation progress as inline SVG,
    and a link to ``figures_file`` (the same picture written beside the postmortem) when given.
    """
    incident = record.incident
    figures = key_figures(record)
    hit = impact(record)
    drill = " (DRILL)" if incident.is_drill else ""
    lines = [f"# Postmortem{drill}: {md_line(incident.title)}", ""]
    if incident.is_drill:
        lines += ["> **This was a drill.** Figures below measure the rehearsal, not a real compromise.", ""]
    lines += [
        f"Incident `{incident.id}` · severity {incident.severity} · status {incident.status} · "
        f"{incident.event_count} event(s) from {incident.source} · draft generated "
        f"{generated_at.isoformat(timespec='seconds')}",
        "",
        "Timeline chain: "
        + (
            f"verified ({len(record.entries)} entries)."
            if record.chain_break is None
            else f"**BROKEN at entry {record.chain_break.seq}: {record.chain_break.reason}.**"
        ),
        "",
        "## Summary",
        "",
        md_text(incident.summary) if incident.summary else _TO_FILL,
        "",
        "## Impact",
        "",
        f"- Tokens revoked: **{hit.revoked}**",
        f"- Tokens already dead (expired, revoked or unknown to TikTok): **{hit.already_dead}**",
        f"- Tokens failed to revoke: **{hit.failed}**"
        + (
            " (" + ", ".join(f"{md_line(reason)}: {n}" for reason, n in sorted(hit.failures.items())) + ")"
            if hit.failures
            else ""
        ),
        f"- Revocations finished: {hit.revocations}; "
        f"scope: {md_line(', '.join(hit.scopes) or 'none recorded')}",
    ]
    if hit.alarms:
        lines.append("- Alarms: " + md_line(", ".join(f"{r} x{n}" for r, n in sorted(hit.alarms.items()))))
    if hit.purges:
        tables = md_line(", ".join(f"{t}: {n}" for t, n in sorted(hit.records_deleted.items())) or "none")
        lines.append(f"- Purged: {hit.tokens_deleted} tokens deleted; records deleted: {tables}")
    exposure = exposure_from_entries(record.entries)
    if exposure is not None:
        lines += exposure.lines()
    counts = incident.entity_totals()
    named = ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()) if count)
    lines.append(f"- Entities named by the events: {named or 'none'}")
    lines += ["", "## Key times and durations", "", "| Moment | Time (UTC) |", "|---|---|"]
    for name, label in KEY_TIMES:
        value = figures.times[name]
        lines.append(f"| {label} | {value.isoformat(timespec='seconds') if value else '-'} |")
    lines += [
        "",
        _duration("Awareness to disconnect", figures.awareness_to_disconnect, disconnect_target_minutes),
        _duration("Awareness to report", figures.awareness_to_report, report_target_minutes),
        _duration("Awareness to tokens revoked", figures.awareness_to_revoked),
        _duration("Awareness to resolved", figures.awareness_to_resolved),
        "",
        "## Picture",
        "",
    ]
    targets = charts.clause_targets(
        disconnect_minutes=disconnect_target_minutes or 0, report_minutes=report_target_minutes or 0
    )
    if figures_file is not None:
        lines += [f"![Time axis and revocation progress]({figures_file})", ""]
    lines += [
        charts.figures_svg(record, [t for t in targets if t.seconds > 0]).strip(),
        "",
        "## Who did what",
        "",
        "| Actor | Entries | What |",
        "|---|---|---|",
    ]
    for actor, count, entry_kinds in actors(record):
        lines.append(f"| {md_cell(actor)} | {count} | {md_cell(', '.join(entry_kinds))} |")
    lines += ["", "## Status updates", ""]
    posted = [e for e in record.entries if e.kind == kinds.STATUS_UPDATE]
    lines += [f"- {e.at:%Y-%m-%d %H:%M:%S} UTC, {md_line(e.actor)}: {md_line(e.message)}" for e in posted]
    lines += [] if posted else ["_None posted (`/ir update`)._"]
    lines += ["", "## Timeline", "", "| # | Time (UTC) | Actor | Kind | Message |", "|---|---|---|---|---|"]
    for e in record.entries:
        at = e.at.isoformat(timespec="milliseconds")
        lines.append(f"| {e.seq} | {at} | {md_cell(e.actor)} | {e.kind} | {md_cell(e.message)} |")
    lines += [
        "",
        "## Root cause",
        "",
        _TO_FILL + " How did the attacker get in, and why did it work?",
        "",
        "## Lessons",
        "",
        _TO_FILL + " What went well, what went badly, where were we lucky?",
        "",
        "## Follow-ups",
        "",
        "- [ ] _Action, owner, due date_",
    ]
    return "\n".join(lines) + "\n"
