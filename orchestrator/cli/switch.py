"""``orchestrator switch status|engage|release|history|mirror``: the kill switches from a terminal.

Without ``--app`` a command works on the all-apps switch; ``--app NAME`` on that app's only.
"""

from __future__ import annotations

import getpass
import json
import signal
import threading

import click

from orchestrator.cli.common import State, pass_state
from orchestrator.durations import parse_duration
from orchestrator.logging import get_logger
from orchestrator.switch import flows, service
from orchestrator.switch.mirror import FILE_NAME
from orchestrator.switch.service import SwitchBoard, SwitchState

__all__ = ["switch"]

_log = get_logger(__name__)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _show(state: SwitchState, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(state.as_dict(), indent=2))
        return
    data = state.as_dict()
    whom = "the application" if state.app is None else f"app {state.app}"
    click.echo(f"ENGAGED: no TikTok call may leave {whom}" if state.engaged else "released")
    for key in ("by", "reason", "approved_by", "incident_id", "changed_at", "version"):
        click.echo(f"  {key:<12} {'-' if data[key] is None else data[key]}")


def _show_board(board: SwitchBoard, as_json: bool) -> None:
    """The all-apps switch, then one line per app: disconnected when either switch is engaged."""
    if as_json:
        click.echo(json.dumps(board.as_dict(), indent=2))
        return
    _show(board.all, as_json)
    click.echo("apps:")
    for name, state in board.apps.items():
        shown = "ENGAGED" if state.engaged else "released"
        effective = "disconnected" if board.engaged_for(name) else "connected"
        why = f"  by {state.by} at {state.changed_at.isoformat()}: {state.reason}" if state.changed_at else ""
        click.echo(f"  {name:<16} {shown:<9} {effective:<13} version {state.version}{why}")


_APP = click.option("--app", default=None, help="This app's switch only (default: the all-apps switch).")


@click.group()
def switch() -> None:
    """The kill switches: one per TikTok app and one for all; an app may not call TikTok while
    either of its switches is engaged."""


@switch.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def status_cmd(state: State, as_json: bool) -> None:
    """Show every switch (and re-publish them to the mirrors the application reads)."""
    runtime = state.runtime()
    _show_board(flows.sync_mirrors(runtime.store, runtime.settings), as_json)


@switch.command("engage")
@_APP
@click.option("--reason", required=True, help="Why (recorded on the timeline).")
@click.option("--incident", "incident_id", default=None, help="Record it on this incident's timeline.")
@click.option("--by", default=None, help="Who engages it (default: cli:<user>).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def engage_cmd(
    state: State, app: str | None, reason: str, incident_id: str | None, by: str | None, as_json: bool
) -> None:
    """Engage the switch now: the application (or app NAME) stops calling TikTok."""
    runtime = state.runtime()
    change = flows.engage_switch(
        runtime.store, runtime.settings, by=by or _operator(), reason=reason, app=app, incident_id=incident_id
    )
    _show(change.state, as_json)


@switch.command("release")
@_APP
@click.option("--reason", required=True, help="Why it is safe to reconnect (required).")
@click.option("--approved-by", default=None, help="Who approved the release.")
@click.option("--incident", "incident_id", default=None, help="Record it on this incident's timeline.")
@click.option("--by", default=None, help="Who releases it (default: cli:<user>).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def release_cmd(
    state: State,
    app: str | None,
    reason: str,
    approved_by: str | None,
    incident_id: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Release the switch (never automatic; --app: that app's only, never another's)."""
    runtime = state.runtime()
    change = flows.release_switch(
        runtime.store,
        runtime.settings,
        by=by or _operator(),
        reason=reason,
        app=app,
        approved_by=approved_by,
        incident_id=incident_id,
    )
    _show(change.state, as_json)


@switch.command("history")
@click.option("--limit", default=20, show_default=True, help="How many changes, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def history_cmd(state: State, limit: int, as_json: bool) -> None:
    """Every engage and release, on the system chain and on incidents, newest first."""
    runtime = state.runtime()
    with runtime.store.unit_of_work() as session:
        rows = service.history(session, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        at = row["at"][:19].replace("T", " ")
        click.echo(
            f"{at}  {row['kind']:<16} {row['chain']:<17} {row['actor']:<20} {row['data'].get('reason', '')}"
        )


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if seconds < 1:
        raise click.BadParameter("at least 1s, e.g. 10s")
    return seconds


@switch.command("mirror")
@click.option(
    "--every",
    callback=_duration,
    default=None,
    help="Keep refreshing at this interval (e.g. 10s) until stopped; default: once.",
)
@pass_state
def mirror_cmd(state: State, every: float | None) -> None:
    """Write the stored switch to this host's mirrors (the file in ORCH_DATA_DIR, the Redis key).

    The guard ignores a file older than ORCH_GUARD_FILE_MAX_AGE_SECONDS (60 s), so run
    `orchestrator switch mirror --every 10s` on every host whose application reads the file.
    A refresh that cannot read the store writes nothing: the file ages and the guard fails closed.
    """
    runtime = state.runtime(tokens=False)
    if every is None:
        written = flows.sync_mirrors(runtime.store, runtime.settings)
        shown = "engaged" if written.all.engaged else "released"
        click.echo(f"mirrors written: {shown}, version {written.version}")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _log.info("switch mirror started", every_seconds=every, file=str(runtime.settings.data_dir / FILE_NAME))
    while not stop.is_set():
        try:
            written = flows.sync_mirrors(runtime.store, runtime.settings)
            _log.info("switch mirror refreshed", engaged=written.all.engaged, version=written.version)
        except Exception as exc:  # the store is down: leave the file to age, so the guard fails closed
            _log.warning("switch mirror not refreshed", error=str(exc))
        stop.wait(every)
    runtime.close()
