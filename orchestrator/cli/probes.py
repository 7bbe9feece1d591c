"""Commands for process managers: ``heartbeat check`` (a probe) and ``drain`` (a stop hook).

A worker or scheduler answers no HTTP; Kubernetes' exec probes and a host's monitoring ask
``orchestrator heartbeat check`` whether a process of this host beat recently. ``drain`` is a
pre-stop hook: it asks the process (PID 1 in a container) to stop, which for a worker means
hand back what it holds within ``worker_drain_seconds``, and returns once it has exited.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import click

from orchestrator import clock, heartbeats
from orchestrator.cli.common import State, fail, pass_state
from orchestrator.store.db import Store

__all__ = ["drain", "heartbeat"]


@click.group()
def heartbeat() -> None:
    """Heartbeats of the workers and the scheduler (also in /readyz and /metrics)."""


@heartbeat.command("check")
@click.option("--host", default=None, help="Whose processes (default: this host's name, a pod's name).")
@pass_state
def check(state: State, host: str | None) -> None:
    """Exit 0 if a worker or scheduler of this host beat within 20 s, else 1 naming what is missing."""
    host = host or socket.gethostname()
    store = Store.for_settings(state.settings())
    try:
        with store.unit_of_work() as session:
            rows = [row for row in heartbeats.read_beats(session) if row.host == host]
    finally:
        store.dispose()
    now = clock.utcnow()
    fresh = [row for row in rows if (now - row.beat_at).total_seconds() <= heartbeats.STALE_SECONDS]
    if not fresh:
        fail(f"no worker or scheduler on {host} beat in the last {heartbeats.STALE_SECONDS:g} s")
    for row in fresh:
        age = (now - row.beat_at).total_seconds()
        click.echo(f"{row.role} {row.process} {row.queues} beat {age:.0f} s ago")


@click.command()
@click.option(
    "--pid", type=int, default=1, show_default=True, help="The process to stop (a container's PID 1)."
)
@pass_state
def drain(state: State, pid: int) -> None:
    """Ask a worker (or any orchestrator process) to stop, and wait until it has: a worker hands
    back its work within worker_drain_seconds. For a preStop hook, or a host's stop script."""
    grace = state.settings().worker_drain_seconds + 5
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    fail(f"process {pid} still runs {grace:g} s after SIGTERM")
