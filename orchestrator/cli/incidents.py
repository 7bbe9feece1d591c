"""``orchestrator incident list|show``: read the store (verify, resolve, close: ``cli/reports.py``)."""

from __future__ import annotations

import json

import click

from orchestrator import proof
from orchestrator.cli.common import State, pass_state
from orchestrator.incidents import service as incidents

__all__ = ["incident"]


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
        census = proof.latest_census(session, chain=data["id"])
    if as_json:
        click.echo(json.dumps({**data, "census": census.as_dict() if census else None}, indent=2))
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else ("-" if value is None else value)
        click.echo(f"{key:<{width}}  {shown}")
    for line in census.lines() if census else ["census: none taken yet"]:
        click.echo(line)
