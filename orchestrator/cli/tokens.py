"""``orchestrator tokens revoke|status``: mass revocation from the command line, with progress."""

from __future__ import annotations

import getpass
import time

import click
from sqlalchemy import select

from orchestrator.cli.common import State, pass_state
from orchestrator.errors import NotFound
from orchestrator.inventory.factory import close_inventory, inventory_for
from orchestrator.playbooks import flows, service
from orchestrator.revocation import flows as revocation
from orchestrator.revocation.models import RevocationRow
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.tokens.inventory import Scope
from orchestrator.worker.runtime import Runtime

__all__ = ["tokens"]

REVOKE_PLAYBOOK = "revoke-tokens"


@click.group()
def tokens() -> None:
    """Revoke TikTok tokens in bulk and follow a revocation."""


def _apps(runtime: Runtime, names: tuple[str, ...]) -> list[TikTokApp]:
    """The apps named (ConfigError lists the configured ones for a typo), or every app."""
    settings = runtime.settings
    return [settings.app(name) for name in names] if names else list(settings.apps)


def _count(runtime: Runtime, app: TikTokApp, scope_text: str) -> int:
    inventory = inventory_for(app, runtime.settings)
    try:
        scope = Scope.parse(scope_text)
        counted = inventory.count(scope)
        if counted is None:
            counted = sum(len(batch) for batch in inventory.stream(scope, 1000))
        return counted
    finally:
        close_inventory(inventory)


def _eta(count: int, rate: float) -> str:
    if rate <= 0:
        return "no client-side rate limit"
    seconds = count / rate
    return (
        f"about {seconds / 3600:.1f} h at {rate:g}/s"
        if seconds >= 3600
        else f"about {seconds:.0f} s at {rate:g}/s"
    )


@tokens.command("revoke")
@click.option(
    "--scope", default="all", show_default=True, help="all, open_id:A,B, label:KEY=VALUE or tenant:NAME."
)
@click.option(
    "--app",
    "app_names",
    multiple=True,
    metavar="NAME",
    help="Only this TikTok app's tokens (tiktok_apps; repeat for several). Default: every app.",
)
@click.option("--dry-run", is_flag=True, help="Count the tokens in scope and show the ETA; revoke nothing.")
@click.option("--no-wait", is_flag=True, help="Start the revocation and return at once.")
@pass_state
def revoke(state: State, scope: str, app_names: tuple[str, ...], dry_run: bool, no_wait: bool) -> None:
    """Revoke every TikTok token in SCOPE through TikTok's API, with a live progress bar.

    Workers (`orchestrator worker` or `orchestrator up`) do the revoking, each app with its own
    credentials at its own rate (revoke_rate, or ORCH_TIKTOK_REVOKE_RATE for the app `default`)
    across all of them, the apps at once; a restart resumes where it stopped, and a token once
    revoked is never sent again. 1,000,000 tokens at TikTok's documented 600/min take almost
    28 hours: agree a higher rate with TikTok.
    """
    runtime = state.runtime()
    Scope.parse(scope)
    apps = _apps(runtime, app_names)
    count = 0
    named = runtime.settings.app_names != [DEFAULT_APP]  # one unnamed app: say it as before
    for app in apps:
        counted = _count(runtime, app, scope)
        count += counted
        label = f"{app.name}: " if named else ""
        click.echo(f"{label}{counted} tokens in scope {scope}: {_eta(counted, app.revoke_rate)}")
    if dry_run:
        return
    if REVOKE_PLAYBOOK not in runtime.playbooks:
        raise NotFound(
            f"the shipped playbook '{REVOKE_PLAYBOOK}' is missing from {', '.join(runtime.playbooks)}"
        )
    run_id = flows.start_manual_run(
        runtime.transaction,
        playbook=runtime.playbooks[REVOKE_PLAYBOOK],
        given_inputs={"scope": scope, "app": ",".join(app.name for app in apps) if app_names else "all"},
        incident_id=None,
        dry_run=False,
        actor=f"cli:{getpass.getuser()}",
    )
    click.echo(f"started {run_id}; follow it with: orchestrator tokens status {run_id}")
    if not no_wait:
        _follow(runtime, run_id, count)


def _revocation_of(runtime: Runtime, run_id: str) -> str | None:
    with runtime.store.unit_of_work() as session:
        return session.scalar(select(RevocationRow.id).where(RevocationRow.run_id == run_id))


def _follow(runtime: Runtime, run_id: str, expected: int) -> None:
    with click.progressbar(length=max(expected, 1), label="revoking", show_pos=True, show_eta=True) as bar:
        shown = 0
        while True:
            with runtime.store.unit_of_work() as session:
                status = service.get_run(session, run_id=run_id).status
                revocation_id = session.scalar(select(RevocationRow.id).where(RevocationRow.run_id == run_id))
                current = revocation.tally(session, revocation_id=revocation_id) if revocation_id else None
            if current is not None and current.settled > shown:
                bar.update(current.settled - shown)
                shown = current.settled
            if status != "running":
                break
            time.sleep(0.5)
    _print_status(runtime, run_id)


def _print_status(runtime: Runtime, run_id: str) -> None:
    with runtime.store.unit_of_work() as session:
        run = service.get_run(session, run_id=run_id)
        revocation_id = session.scalar(select(RevocationRow.id).where(RevocationRow.run_id == run.id))
        if revocation_id is None:
            click.echo(f"{run.id}: {run.status}; no revocation has started yet (is a worker running?)")
            return
        summary = revocation.tally(session, revocation_id=revocation_id).as_dict()
    click.echo(
        f"{run.id} ({run.status}): {summary['total']} in scope, {summary['revoked']} revoked, "
        f"{summary['already_dead']} already dead, {summary['failed']} failed, {summary['pending']} to go"
    )
    for reason, n in sorted(summary["failures"].items()):
        click.echo(f"  failed: {n} x {reason}")
    if summary["alarm"]:
        click.echo(f"  ALARM: {summary['alarm']}")


@tokens.command("status")
@click.argument("run_id")
@pass_state
def status(state: State, run_id: str) -> None:
    """Show the tally of the revocation started by RUN_ID (revoked, already dead, failed with reasons)."""
    _print_status(state.runtime(), run_id)
