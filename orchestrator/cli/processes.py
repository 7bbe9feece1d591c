"""Long-running commands: ``up`` (everything), ``serve`` (API), ``worker``, ``scheduler``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import uvicorn
from celery.platforms import EX_FAILURE
from celery.signals import worker_ready, worker_shutting_down

from orchestrator import metrics
from orchestrator.api.app import create_app, prepare
from orchestrator.cli.common import State, pass_state
from orchestrator.credentials import where_tokens_are
from orchestrator.errors import EXIT_SCHEMA
from orchestrator.heap import freeze_startup_heap
from orchestrator.heartbeats import Beat, HeartbeatThread
from orchestrator.logging import get_logger
from orchestrator.playbooks.catalog import require_critical_handler
from orchestrator.routing import QUEUES, REVOCATION_QUEUE
from orchestrator.scheduler import run_scheduler

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["api_process_app", "scheduler", "serve", "up", "worker"]

log = get_logger(__name__)

_WORKER_CHILD = "ORCHESTRATOR_WORKER_CHILD"
_host = click.option("--host", default=None, help="Address to listen on (default: config 'host', 127.0.0.1).")
_port = click.option(
    "--port", type=int, default=None, help="Port to listen on (default: config 'port', 8080)."
)


def _listen(state: State, host: str | None, port: int | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    return overrides


@click.command()
@_host
@_port
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="API processes sharing the port (default: config api_processes, 1): one per core the "
    "API has to itself. Metrics and the opt-in rate limits are shared by all of them.",
)
@pass_state
def serve(state: State, host: str | None, port: int | None, processes: int | None) -> None:
    """Run the HTTP API: event intake, incidents, timelines, health.

    Needs a worker (`orchestrator worker`) and a scheduler (`orchestrator scheduler`)
    on the same store and broker; `orchestrator up` starts all three.
    """
    runtime = state.runtime(**_listen(state, host, port))  # migrations and tokens happen here, once
    settings = runtime.settings
    count = processes or settings.api_processes
    log.info(
        "api listening",
        url=f"http://{settings.host}:{settings.port}",
        processes=count,
        tokens=where_tokens_are(state.settings()),
    )
    listen: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
    }
    if count == 1:
        app = create_app(runtime)
        prepare(app)
        freeze_startup_heap()
        uvicorn.run(app, **listen)
        return
    runtime.close()
    if state.config_path:
        os.environ["ORCH_CONFIG"] = str(state.config_path)
    with metrics.shared_counters():
        # uvicorn binds the port here and starts the processes, restarting any that dies.
        uvicorn.run(f"{__name__}:{api_process_app.__name__}", factory=True, workers=count, **listen)


def api_process_app() -> FastAPI:
    """The app in one of `serve --processes N`'s processes, from ORCH_CONFIG and ORCH_* as inherited."""
    config = os.environ.get("ORCH_CONFIG")
    app = create_app(State(config_path=Path(config) if config else None).runtime())
    prepare(app)
    freeze_startup_heap()
    return app


@click.command()
@click.option(
    "--queues", default=",".join(QUEUES), show_default=True, help="Comma-separated queues to consume."
)
@click.option(
    "--concurrency", type=int, default=None, help="Worker threads (default: config worker_concurrency)."
)
@pass_state
def worker(state: State, queues: str, concurrency: int | None) -> None:
    """Run a Celery worker that correlates events and runs playbook steps.

    Start several, on one machine or many, against the same store and broker
    (ORCH_DATABASE_URL, ORCH_BROKER_URL); work is shared and never done twice.
    """
    unknown = sorted(set(queues.split(",")) - set(QUEUES))
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    if os.environ.get(_WORKER_CHILD) != "1":
        # Celery's worker can die on a broker connection lost mid-ack ("Unrecoverable error");
        # this process stays up and starts it again, so workers recover from broker restarts.
        checked = state.runtime()  # config, schema and playbook errors are reported here, once
        require_critical_handler(checked.playbooks, checked.settings)
        grace = checked.settings.worker_drain_seconds
        checked.close()
        os.environ[_WORKER_CHILD] = "1"
        command = [sys.executable, "-m", "orchestrator"]
        if state.config_path:
            command += ["--config", str(state.config_path)]
        command += ["worker", "--queues", queues]
        if concurrency:
            command += ["--concurrency", str(concurrency)]
        _supervise({"worker": command}, grace=grace)
        return
    runtime = state.runtime()
    threads = concurrency or runtime.settings.worker_concurrency
    _exit_on_unrecoverable_error(runtime.celery)
    heartbeat = HeartbeatThread(runtime.store, Beat("worker", tuple(queues.split(","))))

    def ready(**_: object) -> None:
        freeze_startup_heap()
        heartbeat.start()

    worker_ready.connect(ready, weak=False)

    def stopping(**_: object) -> None:
        # Celery's warm shutdown waits for the running tasks: they hand back what they hold instead
        # of finishing it (a slow revocation's batch would outlast any grace), see Runtime.draining.
        # The heartbeat goes first: a draining worker takes no work, so /readyz must not count it.
        runtime.draining.set()
        heartbeat.stop()

    worker_shutting_down.connect(stopping, weak=False)
    runtime.celery.worker_main(
        [
            "--quiet",  # no banner: every line the worker writes is a log record (JSON if so set)
            "worker",
            "-Q",
            queues,
            "-P",
            "threads",
            "-c",
            str(threads),
            "-n",
            f"worker-{os.getpid()}@%h",
            "--loglevel",
            runtime.settings.log_level.upper(),
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ]
    )


def _exit_on_unrecoverable_error(app: Any) -> None:
    """After an "Unrecoverable error" Celery shuts down warm, waiting for the running tasks; a mass
    revocation's step runs as long as the revocation, which this dead consumer no longer advances,
    so the child would hang and never be restarted. Exit at once instead, as if killed: leases and
    the relay hand the work in hand to the restarted worker (tests/faults/test_service_restarts.py)."""

    class Worker(app.Worker):  # type: ignore[misc]
        def stop(self, in_sighandler: bool = False, exitcode: int | None = None) -> None:
            if exitcode == EX_FAILURE:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(EX_FAILURE)
            super().stop(in_sighandler=in_sighandler, exitcode=exitcode)

    app.Worker = Worker


@click.command()
@pass_state
def scheduler(state: State) -> None:
    """Run the scheduler: relays the outbox to the broker and re-sends unfinished work."""
    runtime = state.runtime()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_scheduler(runtime, stop)


@click.command()
@_host
@_port
@pass_state
def up(state: State, host: str | None, port: int | None) -> None:
    """Run everything on one machine: API, workers and scheduler, on the embedded defaults.

    One worker takes events, playbooks and notifications; ``up_revocation_workers`` more (1)
    take the revocation queue alone, as docker/compose.yaml deploys them.

    With no config this needs no server: the store is a SQLite file and the broker a
    folder, both in ./.orchestrator. Tokens not configured are made on first start and
    kept in .orchestrator/credentials.json. Stop with Ctrl-C; a child that dies is
    restarted.
    """
    runtime = state.runtime(**_listen(state, host, port))  # migrates an empty store once, here
    settings = runtime.settings
    require_critical_handler(runtime.playbooks, settings)  # the worker it starts would refuse
    base = [sys.executable, "-m", "orchestrator"]
    if state.config_path:
        base += ["--config", str(state.config_path)]
    revokers = settings.up_revocation_workers
    worker = [*base, "worker"]
    if revokers:  # a mass revocation has processes of its own: no GIL or thread shared with events
        worker += ["--queues", ",".join(queue for queue in QUEUES if queue != REVOCATION_QUEUE)]
    commands = {
        "api": [*base, "serve", "--host", settings.host, "--port", str(settings.port)],
        "worker": worker,
        **{f"revocation-{n}": [*base, "worker", "--queues", REVOCATION_QUEUE] for n in range(revokers)},
        "scheduler": [*base, "scheduler"],
    }
    click.echo(
        f"orchestrator up: API on http://{settings.host}:{settings.port}, "
        f"store {settings.store_url.split('://')[0]}, broker {settings.broker_url.split('://')[0]}; "
        f"{where_tokens_are(state.settings())}",
        err=True,
    )
    _supervise(commands, grace=settings.worker_drain_seconds)


def _supervise(commands: dict[str, list[str]], *, grace: float) -> None:
    """Start each child; restart one that dies; stop them all on SIGINT or SIGTERM, killing those
    still running ``grace`` seconds later (a worker drains within ``worker_drain_seconds``). A child
    that exits with EXIT_SCHEMA stops them all and this process exits with it: restarting every
    2.5 s against a schema it refuses would look alive and do nothing."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    children = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
    refused = False
    try:
        while not stopping.is_set():
            for name, child in list(children.items()):
                code = child.poll()
                if code == EXIT_SCHEMA:  # a restart would refuse the same schema: say so, stop
                    log.error("child refused the store's schema; stopping", child=name, code=code)
                    refused = True
                    stopping.set()
                elif code is not None and not stopping.is_set():
                    log.warning("child exited; restarting", child=name, code=code)
                    time.sleep(1)
                    children[name] = subprocess.Popen(commands[name])
            stopping.wait(0.5)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + grace
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    if refused:
        sys.exit(EXIT_SCHEMA)
