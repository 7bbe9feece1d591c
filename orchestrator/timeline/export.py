"""Pure renderers of an incident's timeline: text, JSON (schema-versioned), Markdown and HTML."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from orchestrator.timeline import charts
from orchestrator.timeline.figures import KEY_TIMES, Record, actors, duration_text, key_figures

__all__ = [
    "MARKDOWN_SECTIONS",
    "SCHEMA_VERSION",
    "export_json",
    "md_cell",
    "md_line",
    "md_text",
    "page_context",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "templates",
]

SCHEMA_VERSION = "1.0"
"""Version of ``schemas/timeline.schema.json``: minor for added fields, major for breaking ones."""

MARKDOWN_SECTIONS = ("Incident", "Key times", "Chain verification", "Who did what", "Timeline")


def md_text(value: object) -> str:
    """Text safe in Markdown prose: ``&``, ``<`` and ``>`` as HTML entities. Titles, notes and
    reasons come from outside (a SIEM, a Slack user), and renderers that allow HTML (GitHub,
    most wikis) would otherwise run a ``<script>`` or an ``<img onerror>`` from them."""
    return html.escape(str(value), quote=False)


def md_line(value: object) -> str:
    """``md_text`` on one line (a heading, a list item): newlines flattened."""
    return md_text(value).replace("\r", " ").replace("\n", " ")


def md_cell(value: object) -> str:
    """``md_line`` safe inside one Markdown table cell: backslashes and pipes escaped."""
    return md_line(value).replace("\\", "\\\\").replace("|", "\\|")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def _seconds(record: Record) -> dict[str, float | None]:
    figures = key_figures(record)
    pairs = {
        "awareness_to_disconnect_s": figures.awareness_to_disconnect,
        "awareness_to_report_s": figures.awareness_to_report,
        "awareness_to_revoked_s": figures.awareness_to_revoked,
        "awareness_to_resolved_s": figures.awareness_to_resolved,
    }
    return {key: (value.total_seconds() if value is not None else None) for key, value in pairs.items()}


def export_json(record: Record, *, generated_at: datetime) -> dict[str, Any]:
    """The timeline as plain data matching ``schemas/timeline.schema.json``."""
    figures = key_figures(record)
    brk = record.chain_break
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _iso(generated_at),
        "incident": record.incident.as_dict(),
        "is_drill": bool(record.incident.is_drill),
        "key_times": {name: _iso(figures.times[name]) for name, _ in KEY_TIMES},
        "durations": _seconds(record),
        "chain": {
            "verified": brk is None,
            "entries": len(record.entries),
            "head_hash": record.entries[-1].hash if record.entries else None,
            "first_break": None if brk is None else {"seq": brk.seq, "reason": brk.reason},
        },
        "entries": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor": e.actor,
                "kind": e.kind,
                "message": e.message,
                "data": e.data or {},
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in record.entries
        ],
    }


def render_json(record: Record, *, generated_at: datetime) -> str:
    return json.dumps(export_json(record, generated_at=generated_at), indent=2, ensure_ascii=False)


def _chain_line(record: Record) -> str:
    brk = record.chain_break
    if brk is None:
        return f"verified: {len(record.entries)} entries, every hash and link holds"
    return f"BROKEN at entry {brk.seq}: {brk.reason}"


def render_text(record: Record) -> str:
    """One line per entry, for a terminal, after a short header."""
    incident = record.incident
    drill = "  [DRILL]" if incident.is_drill else ""
    lines = [f"{incident.id}  {incident.severity}  {incident.status}  {incident.title}{drill}"]
    lines.append(f"chain: {_chain_line(record)}")
    for e in record.entries:
        at = e.at.isoformat(sep=" ", timespec="milliseconds")[:23]
        lines.append(f"{at}  {e.actor:<24} {e.kind:<20} {e.message}")
    return "\n".join(lines) + "\n"


def render_markdown(record: Record, *, generated_at: datetime) -> str:
    """A readable Markdown export with every section of ``MARKDOWN_SECTIONS``."""
    incident = record.incident
    figures = key_figures(record)
    drill = " (DRILL)" if incident.is_drill else ""
    lines = [f"# Timeline{drill}: {md_line(incident.title)}", ""]
    if incident.is_drill:
        lines += ["> **This incident is a drill.** Nothing here happened to production.", ""]
    lines += ["## Incident", "", "| Field | Value |", "|---|---|"]
    for key in ("id", "status", "severity", "kind", "source", "dedup_key", "event_count", "is_drill"):
        lines.append(f"| {key} | {md_cell(getattr(incident, key))} |")
    lines.append(f"| summary | {md_cell(incident.summary or '-')} |")
    lines += ["", "## Key times", "", "| Moment | Time (UTC) | Entry |", "|---|---|---|"]
    for name, label in KEY_TIMES:
        seq = figures.evidence[name]
        lines.append(f"| {label} | {_iso(figures.times[name]) or '-'} | {f'#{seq}' if seq else '-'} |")
    lines += [
        "",
        f"- Awareness to disconnect: {duration_text(figures.awareness_to_disconnect)}",
        f"- Awareness to report: {duration_text(figures.awareness_to_report)}",
        f"- Awareness to tokens revoked: {duration_text(figures.awareness_to_revoked)}",
        "",
        "## Chain verification",
        "",
        _chain_line(record),
        "",
        "## Who did what",
        "",
        "| Actor | Entries | Kinds |",
        "|---|---|---|",
    ]
    for actor, count, entry_kinds in actors(record):
        lines.append(f"| {md_cell(actor)} | {count} | {md_cell(', '.join(entry_kinds))} |")
    lines += ["", "## Timeline", "", "| # | Time (UTC) | Actor | Kind | Message |", "|---|---|---|---|---|"]
    for e in record.entries:
        lines.append(f"| {e.seq} | {_iso(e.at)} | {md_cell(e.actor)} | {e.kind} | {md_cell(e.message)} |")
    lines += ["", f"_Generated {_iso(generated_at)}; JSON schema version {SCHEMA_VERSION}._"]
    return "\n".join(lines) + "\n"


@cache
def templates() -> jinja2.Environment:
    """The Jinja2 environment of ``timeline/templates`` (autoescaped; built on first use)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page_context(
    record: Record, *, generated_at: datetime, targets: Sequence[charts.Target] = ()
) -> dict[str, Any]:
    """What the incident page template needs: plain strings and numbers, and the two pictures
    (inline SVG built from escaped text only)."""
    figures = key_figures(record)
    progress = charts.progress_svg(record)
    return {
        "incident": record.incident.as_dict(),
        "key_times": [
            {"name": name, "label": label, "at": _iso(figures.times[name]), "seq": figures.evidence[name]}
            for name, label in KEY_TIMES
        ],
        "durations": [
            ("Awareness to disconnect", duration_text(figures.awareness_to_disconnect)),
            ("Awareness to report", duration_text(figures.awareness_to_report)),
            ("Awareness to tokens revoked", duration_text(figures.awareness_to_revoked)),
        ],
        "time_axis_svg": Markup(charts.time_axis_svg(record, list(targets))),
        "progress_svg": Markup(progress) if progress else None,
        "verified": record.verified,
        "chain_line": _chain_line(record),
        "entries": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor": e.actor,
                "kind": e.kind,
                "message": e.message,
                "data": json.dumps(e.data or {}, indent=1, ensure_ascii=False, sort_keys=True),
                "hash": e.hash,
            }
            for e in record.entries
        ],
        "kinds": sorted({e.kind for e in record.entries}),
        "actors": sorted({e.actor for e in record.entries}),
        "generated_at": _iso(generated_at),
        "schema_version": SCHEMA_VERSION,
    }


def render_html(record: Record, *, generated_at: datetime, targets: Sequence[charts.Target] = ()) -> str:
    """A standalone HTML page (inline CSS and JS, no external assets), as served at /incidents/{id}."""
    context = page_context(record, generated_at=generated_at, targets=targets)
    return templates().get_template("incident.html").render(**context, nonce="")
