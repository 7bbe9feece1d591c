"""``orchestrator incident list|show`` and ``orchestrator timeline``: read the store."""

from __future__ import annotations

import json
from typing import Any

import click

from orchestrator.cli.common import State, pass_state
from orchestrator.incidents import service as incidents
from orchestrator.timeline import service as timeline_service

__all__ = ["incident", "timeline"]


@click.group()
def incident() -> None:
    """List and inspect incidents."""


@incident.command("list")
@click.option("--status", default=None, help="Only incidents in this status (detected, contained, ...).")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def list_cmd(state: State, status: str | None, limit: int, as_json: bool) -> None:
    """List incidents, newest first."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        rows = [row.as_dict() for row in incidents.list_incidents(session, status=status, limit=limit)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no incidents")
        return
    click.echo(f"{'ID':<17} {'SEVERITY':<9} {'STATUS':<10} {'EVENTS':>6}  {'AWARE AT (UTC)':<20} TITLE")
    for row in rows:
        aware = row["aware_at"][:19].replace("T", " ")
        columns = f"{row['id']:<17} {row['severity']:<9} {row['status']:<10} {row['event_count']:>6}"
        click.echo(f"{columns}  {aware:<20} {row['title']}")


@incident.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def show(state: State, incident_id: str, as_json: bool) -> None:
    """Show one incident (an id or a unique prefix of one)."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        data = incidents.get_incident(session, incident_id=incident_id).as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else ("-" if value is None else value)
        click.echo(f"{key:<{width}}  {shown}")


@click.command()
@click.argument("incident_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_state
def timeline(state: State, incident_id: str, fmt: str) -> None:
    """Print an incident's timeline, oldest entry first."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        found = incidents.get_incident(session, incident_id=incident_id)
        entries: list[dict[str, Any]] = [row.as_dict() for row in timeline_service.entries(session, found.id)]
    if fmt == "json":
        click.echo(json.dumps({"incident_id": found.id, "entries": entries}, indent=2))
        return
    for entry in entries:
        at = entry["at"][:23].replace("T", " ")
        click.echo(f"{at}  {entry['actor']:<24} {entry['kind']:<20} {entry['message']}")
