"""``orchestrator outbox list [--dead]|retry ID``: the work the store still owes, and dead letters."""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from orchestrator import dead_letters
from orchestrator.cli.common import State, pass_state
from orchestrator.store import outbox as store_outbox

__all__ = ["outbox"]


@click.group()
def outbox() -> None:
    """Inspect owed work; retry rows the relay stopped sending (see docs/reliability.md)."""


@outbox.command("retry")
@click.argument("row_id", type=int)
@pass_state
def retry(state: State, row_id: int) -> None:
    """Send a dead-lettered row again with a fresh set of attempts (after fixing its cause)."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        row = dead_letters.retry(session, row_id, actor=f"cli:{getpass.getuser()}")
    click.echo(f"outbox row {row.id} ({row.topic} {row.ref_id}) owed again; the relay sends it next round")


def _plain(row: store_outbox.OutboxRow) -> dict[str, Any]:
    names = ("id", "topic", "ref_id", "attempts", "dispatched_at", "dead_at", "last_error")
    return {name: getattr(row, name) for name in names}


@outbox.command("list")
@click.option("--dead", is_flag=True, help="Only the dead-lettered rows (sent too often, never done).")
@click.option("--limit", default=100, show_default=True, help="How many, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
def list_cmd(state: State, dead: bool, limit: int, as_json: bool) -> None:
    """List outbox rows not done, oldest first: those still relayed, or with --dead those that
    stopped, each with its last error."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        rows = [_plain(row) for row in dead_letters.list_owed(session, dead=dead, limit=limit)]
        total = store_outbox.dead_count(session) if dead else store_outbox.pending_count(session)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no dead-lettered rows" if dead else "nothing owed")
        return
    click.echo(f"{'ID':>8}  {'TOPIC':<27} {'REF':<33} {'SENDS':>5}  LAST ERROR")
    for row in rows:
        columns = f"{row['id']:>8}  {row['topic']:<27} {row['ref_id']:<33} {row['attempts']:>5}"
        click.echo(f"{columns}  {row['last_error'] or '-'}")
    if total > len(rows):
        click.echo(f"... {total - len(rows)} more (--limit)")
