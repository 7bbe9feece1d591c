"""``orchestrator slack``: Slack commands (Socket Mode for teams with no public URL)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from orchestrator.chatops.socket import run_socket_mode
from orchestrator.cli.common import State, pass_state

__all__ = ["slack"]


@click.group()
def slack() -> None:
    """Slack ChatOps: `/ir` commands and buttons (HTTP endpoints live in `serve`)."""


@slack.command("socket")
@pass_state
def socket(state: State) -> None:
    """Serve `/ir` and the buttons over Socket Mode (needs ORCH_SLACK_BOT_TOKEN and ORCH_SLACK_APP_TOKEN)."""
    runtime = state.runtime()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo("Slack Socket Mode: connecting (Ctrl-C stops)", err=True)
    try:
        run_socket_mode(runtime, stop)
    finally:
        runtime.close()
