"""``orchestrator``: the root command, its global options and the one-line error policy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator.cli import (
    config_cmd,
    db,
    demo,
    drill,
    events,
    evidence,
    incidents,
    outbox,
    playbooks,
    probes,
    processes,
    reports,
    simulate,
    tokens,
)
from orchestrator.cli.common import State
from orchestrator.cli.detect import detect
from orchestrator.cli.slack import slack
from orchestrator.cli.switch import switch
from orchestrator.errors import EXIT_SCHEMA, OrchestratorError, SchemaError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ORCH_CONFIG",
    help="YAML config file (default: none; every key can also be set as ORCH_<KEY>).",
)
@click.version_option(package_name="tiktok-ir-orchestrator")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Security incident response and TikTok disconnect orchestrator.

    Detectors and SIEMs post compromise events; the orchestrator opens incidents,
    runs playbooks (kill switch, token revocation, report to TikTok) and keeps a
    tamper-evident timeline.

    \b
    Start everything on one machine:   orchestrator up
    Post an event from a file:         orchestrator event send event.json
    See what happened:                 orchestrator incident list
                                       orchestrator timeline INCIDENT_ID
    """
    ctx.obj = State(config_path=config_path)


for group in (
    processes.up,
    demo.demo,
    drill.drill,
    processes.serve,
    processes.worker,
    processes.scheduler,
    probes.heartbeat,
    probes.drain,
    events.event,
    detect,
    incidents.incident,
    reports.timeline,
    reports.postmortem,
    reports.compliance,
    evidence.evidence,
    db.db,
    outbox.outbox,
    config_cmd.config,
    switch,
    simulate.simulate,
    slack,
    playbooks.playbook,
    playbooks.run,
    tokens.tokens,
):
    cli.add_command(group)


def main() -> None:
    """Console-script entry: domain errors become one line on stderr and exit status 1 (78 for a
    schema this release cannot run on: restarting changes nothing)."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OrchestratorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_SCHEMA if isinstance(exc, SchemaError) else 1)
    except KeyboardInterrupt:
        sys.exit(130)
