"""``orchestrator config show|check``: the effective settings, secrets masked; every part tried."""

from __future__ import annotations

import click
import yaml

from orchestrator.cli.common import State, pass_state
from orchestrator.config import masked_dump
from orchestrator.errors import ConfigError
from orchestrator.logging import configure_logging
from orchestrator.preflight import check_parts

__all__ = ["config"]


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@pass_state
def show(state: State) -> None:
    """Print the effective config (file + ORCH_* environment), every secret masked.

    Each key can be set in the YAML file or as ORCH_<KEY> (nested keys: ORCH_A__B).
    """
    click.echo(yaml.safe_dump(masked_dump(state.settings()), sort_keys=True).rstrip())


@config.command("check")
@pass_state
def check(state: State) -> None:
    """Try every part a compromise needs; exit 1 naming each one missing or failing.

    Loads the settings, connects to the store and the broker, asks TikTok for a client token,
    calls Slack's auth.test, logs in to SMTP, says who a critical incident pages (paging is
    optional: OFF is no failure), needs a report destination (ORCH_TIKTOK_REPORT_TO) and lists
    the playbooks (one must engage the kill switch on a critical compromise).
    Sends nothing and changes nothing.
    """
    settings = state.settings()
    configure_logging("warning", settings.log_format)
    parts = check_parts(settings)
    for part in parts:
        click.echo(f"{part.status.upper():<8} {part.part:<19} {part.detail}")
    bad = [part.part for part in parts if part.status in ("missing", "failed")]
    if bad:
        raise ConfigError(f"missing or failing: {', '.join(bad)}")
