"""``orchestrator detect``: run the built-in detectors (canary tokens, log rules) in-process."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from orchestrator.cli.common import State, pass_state
from orchestrator.detectors.base import Emitter
from orchestrator.detectors.canary import CanaryDetector, load_canaries, new_canary_token
from orchestrator.detectors.logrule import FileFollower, LogRuleDetector, load_rules
from orchestrator.detectors.runner import DetectorRunner
from orchestrator.worker.app import publisher

__all__ = ["detect"]

_file = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.group()
def detect() -> None:
    """Built-in detectors: canary tokens and rules over JSON-lines logs (docs/detectors.md)."""


@detect.command("run")
@click.option("--rules", "rules_file", type=_file, help="YAML log rules (see docs/detectors.md).")
@click.option("--canary", "canary_file", type=_file, help="YAML list of planted canary tokens.")
@click.option(
    "--follow",
    "paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A JSON-lines log to follow like tail -F (repeatable; may not exist yet).",
)
@click.option("--from-start", is_flag=True, help="Read followed files from their start, not their end.")
@click.option("--once", is_flag=True, help="Read what is there now, emit, and exit (for cron and tests).")
@click.option("--interval", type=float, default=0.25, show_default=True, help="Seconds between polls.")
@pass_state
def run(
    state: State,
    rules_file: Path | None,
    canary_file: Path | None,
    paths: tuple[Path, ...],
    from_start: bool,
    once: bool,
    interval: float,
) -> None:
    """Follow logs and emit a compromise event for every rule match or canary sighting."""
    if rules_file is None and canary_file is None:
        raise click.UsageError("give --rules, --canary or both")
    if not paths:
        raise click.UsageError("give at least one --follow PATH")
    rules = LogRuleDetector(load_rules(rules_file)) if rules_file else None
    canaries = CanaryDetector(load_canaries(canary_file)) if canary_file else None
    runtime = state.runtime()
    publish = publisher(runtime.celery)
    runner = DetectorRunner(
        canary_emitter=Emitter(runtime.store, source="canary", publish=publish),
        rule_emitter=Emitter(runtime.store, source="logrule", publish=publish),
        followers=[FileFollower(path, from_start=from_start or once) for path in paths],
        rules=rules,
        canaries=canaries,
    )
    if once:
        click.echo(f"emitted {runner.poll_once()} event(s)")
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.run(stop, interval=interval)


@detect.command("new-canary")
@click.option(
    "--kind", type=click.Choice(["access", "refresh", "client"]), default="access", show_default=True
)
def new_canary(kind: str) -> None:
    """Print a fresh decoy token shaped like a TikTok token, to plant and list in --canary."""
    click.echo(new_canary_token(kind))  # type: ignore[arg-type]
