"""``orchestrator config show``: the effective settings, secrets masked."""

from __future__ import annotations

import click
import yaml

from orchestrator.cli.common import State, pass_state
from orchestrator.config import masked_dump

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
