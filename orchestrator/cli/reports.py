"""``orchestrator timeline|postmortem|compliance`` and ``incident verify|resolve|close``."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from sqlalchemy import select

from orchestrator import clock
from orchestrator.cli.common import State, pass_state
from orchestrator.cli.incidents import incident
from orchestrator.config import Settings
from orchestrator.incidents import lifecycle
from orchestrator.incidents.models import IncidentRow
from orchestrator.timeline import charts, export
from orchestrator.timeline import compliance as compliance_report
from orchestrator.timeline import service as timeline_service
from orchestrator.timeline.figures import Record, load_record
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.timeline.postmortem import render_postmortem

__all__ = ["close", "compliance", "postmortem", "resolve", "timeline", "verify"]

_output = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to FILE instead of standard output.",
)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


def _record(state: State, incident_id: str) -> Record:
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        return load_record(session, incident_id=incident_id)


def clause_targets(settings: Settings) -> list[charts.Target]:
    """The configured III.2(f) targets, drawn as lines on the incident's time axis."""
    return charts.clause_targets(
        disconnect_minutes=settings.compliance_disconnect_target_minutes,
        report_minutes=settings.compliance_report_target_minutes,
    )


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.command()
@click.argument("incident_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "md", "html"]),
    default="text",
    show_default=True,
    help="text for a terminal; json (schemas/timeline.schema.json); md; html (one offline page).",
)
@_output
@pass_state
def timeline(state: State, incident_id: str, fmt: str, output: Path | None) -> None:
    """Print an incident's timeline, oldest entry first, with its chain's verification state.

    \b
    Examples:
      orchestrator timeline inc-3f2a
      orchestrator timeline inc-3f2a --format html -o incident.html
    """
    record = _record(state, incident_id)
    now = clock.utcnow()
    if fmt == "json":
        text = export.render_json(record, generated_at=now)
    elif fmt == "md":
        text = export.render_markdown(record, generated_at=now)
    elif fmt == "html":
        text = export.render_html(record, generated_at=now, targets=clause_targets(state.settings()))
    else:
        text = export.render_text(record)
    _emit(text, output)


@click.command()
@click.argument("incident_id")
@_output
@pass_state
def postmortem(state: State, incident_id: str, output: Path | None) -> None:
    """Write a postmortem draft in Markdown: summary, impact, key times, a picture, who did what,
    the timeline, and the sections the team fills in (root cause, lessons, follow-ups).

    With -o FILE, the picture is also written beside it as FILE's name with .svg."""
    settings = state.settings()
    record = _record(state, incident_id)
    picture = output.with_suffix(".svg") if output is not None else None
    text = render_postmortem(
        record,
        generated_at=clock.utcnow(),
        disconnect_target_minutes=settings.compliance_disconnect_target_minutes,
        report_target_minutes=settings.compliance_report_target_minutes,
        figures_file=picture.name if picture is not None else None,
    )
    if picture is not None:
        picture.write_text(charts.figures_svg(record, clause_targets(settings)), encoding="utf-8")
        click.echo(f"wrote {picture}", err=True)
    _emit(text, output)


@click.command()
@click.argument("incident_id")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@_output
@pass_state
def compliance(state: State, incident_id: str, fmt: str, output: Path | None) -> None:
    """Write the compliance report: each TikTok Developer Terms clause (III.2(f), IV, VI, III.3(g)),
    met or missed and by how much, with the timeline entries that prove it.

    "Immediately" is measured against compliance_disconnect_target_minutes and
    compliance_report_target_minutes (ORCH_COMPLIANCE_..._TARGET_MINUTES).
    """
    settings = state.settings()
    report = compliance_report.assess(
        _record(state, incident_id),
        disconnect_target_minutes=settings.compliance_disconnect_target_minutes,
        report_target_minutes=settings.compliance_report_target_minutes,
        now=clock.utcnow(),
    )
    if fmt == "json":
        _emit(compliance_report.render_compliance_json(report), output)
    else:
        _emit(compliance_report.render_compliance_markdown(report), output)


@incident.command("verify")
@click.argument("incident_id", required=False)
@click.option("--all", "every", is_flag=True, help="Verify every incident's chain (and the system chain).")
@pass_state
def verify(state: State, incident_id: str | None, every: bool) -> None:
    """Recompute an incident's hash chain and hold it to its signed checkpoints; exit 1 naming the
    first edited, missing, moved or cut-off entry."""
    if bool(incident_id) == every:
        raise click.UsageError("give one INCIDENT_ID or --all")
    runtime = state.runtime()
    broken: list[str] = []
    with runtime.store.unit_of_work() as session:
        if every:
            chains = sorted(
                set(session.scalars(select(IncidentRow.id)))
                | set(session.scalars(select(TimelineEntryRow.chain).distinct()))
            )
        else:
            chains = [load_record(session, incident_id=incident_id or "").incident.id]
        public = runtime.evidence_key().public
        for chain in chains:
            found = timeline_service.verify_chain(session, chain, signature_ok=public.signed)
            if found is None:
                click.echo(f"{chain}: ok ({timeline_service.count(session, chain)} entries)")
            else:
                line = f"{chain}: BROKEN at entry {found.seq}: {found.reason}"
                click.echo(line)
                broken.append(line)
    if broken:
        raise click.ClickException(f"{len(broken)} chain(s) broken; first: {broken[0]}")


_summary = click.option("--summary", required=True, help="What happened and how it ended (required).")


@incident.command("resolve")
@click.argument("incident_id")
@_summary
@pass_state
def resolve(state: State, incident_id: str, summary: str) -> None:
    """Mark an incident resolved with a summary (recorded on its timeline)."""
    runtime = state.runtime()
    with runtime.transaction() as session:  # its pages are resolved as soon as it commits
        row = lifecycle.resolve_incident(
            session, incident_id=incident_id, summary=summary, actor=_cli_actor(), now=clock.utcnow()
        )
        click.echo(f"{row.id}: resolved")


@incident.command("close")
@click.argument("incident_id")
@_summary
@pass_state
def close(state: State, incident_id: str, summary: str) -> None:
    """Close a resolved incident with a closing summary (recorded on its timeline)."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        row = lifecycle.close_incident(
            session, incident_id=incident_id, summary=summary, actor=_cli_actor(), now=clock.utcnow()
        )
        click.echo(f"{row.id}: closed")
