"""Event received to kill switch engaged (issue 4 #4), a part of ``benchmarks.revocation``:
``revocation:switch``. Critical events one at a time on Redis + PostgreSQL, ``RUNS`` runs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from benchmarks.common import (
    INTAKE_TOKEN,
    RUNS_NOTE,
    Figure,
    Proc,
    free_port,
    median_figure,
    orchestrator_env,
    postgres_database,
    redis_database,
    run_count,
    upgrade_store,
    wait_for,
    workdir,
)
from benchmarks.switch import correlated, critical, disconnected
from benchmarks.tiktok import simulator

__all__ = ["SWITCH_NOTES", "switch"]

COMMAND = ".venv/bin/python -m benchmarks.revocation"
WORKERS = ("events", "playbooks,notifications", "revocation")
"""One worker per queue class, as docker/compose.yaml deploys them."""


def _latencies(incidents: int) -> tuple[list[float], list[float]]:
    """One run on a fresh deployment: each incident's awareness -> switch engaged, and awareness ->
    incident opened by the worker, in ms (those not disconnected within 60 s are missing)."""
    from orchestrator.store.db import Store

    with workdir() as tmp, simulator(tmp) as (sim_url, _sim):
        inventory = tmp / "tokens.jsonl"
        inventory.write_text("")
        with postgres_database() as database, redis_database() as broker:
            port = free_port()
            env = orchestrator_env(tmp / "data", database_url=database, broker_url=broker,
                                   tiktok_api_base=sim_url, token_inventory=str(inventory))  # fmt: skip
            upgrade_store(env, tmp / "upgrade.log")
            procs = [Proc.orchestrator("serve", "--port", str(port), env=env, log=tmp / "serve.log")]
            procs.append(Proc.orchestrator("scheduler", env=env, log=tmp / "scheduler.log"))
            for queues in WORKERS:
                log = tmp / f"{queues}.log"
                procs.append(Proc.orchestrator("worker", "--queues", queues, env=env, log=log))
            url = f"http://127.0.0.1:{port}"
            store = Store(database)
            try:
                wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
                         timeout=60, what="every role ready")  # fmt: skip
                return _one_at_a_time(url, store, incidents)
            finally:
                for proc in procs:
                    proc.stop()
                store.engine.dispose()


def _one_at_a_time(url: str, store: Any, incidents: int) -> tuple[list[float], list[float]]:
    """Post ``incidents`` critical events, the next once the previous is disconnected and the
    switch released (the latency of one incident, not of a queue, nor of a switch already engaged)."""
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
    engaged: list[float] = []
    opened: list[float] = []
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        for n in range(incidents):
            event_id = critical(client, f"switch-{n}")
            latency = disconnected(store, event_id, 60)
            if latency is not None:
                engaged.append(latency)
                opened.append(correlated(store, event_id))
            time.sleep(0.3)  # let the incident's later steps (revoke, tally) finish
    return engaged, opened


def _cuts(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of one run (NaN when it disconnected fewer than two incidents)."""
    if len(latencies) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def switch(quick: bool) -> list[Figure]:
    """Issue 4 #4: event received to kill switch engaged (incident aware_at -> disconnected_at), Redis."""
    incidents = 40 if quick else 200
    command = f"{COMMAND} {'--quick ' if quick else ''}switch"
    runs = [_latencies(incidents) for _ in range(run_count(quick))]
    p50, p95, p99 = (list(column) for column in zip(*(_cuts(r[0]) for r in runs), strict=True))
    opened_p50, _, opened_p99 = (list(column) for column in zip(*(_cuts(r[1]) for r in runs), strict=True))
    fewest = min(len(r[0]) for r in runs)
    return [
        Figure("switch: incidents disconnected (each within 60 s)", fewest, "incidents",
               f"all {incidents} in each of {len(runs)} runs (the fewest)", fewest >= incidents, command),
        median_figure(f"switch: event received -> disconnected, p50 ({incidents} incidents, Redis)", p50,
                      "ms", command),
        median_figure("switch: p95", p95, "ms", command),
        median_figure("switch: p99", p99, "ms", command, goal="< 50", met=lambda p: p < 50),
        median_figure("switch: event received -> incident opened by the worker, p50", opened_p50, "ms",
                      command),
        median_figure("switch: incident opened by the worker, p99", opened_p99, "ms", command),
    ]  # fmt: skip


SWITCH_NOTES = (
    "Critical events with distinct dedup keys posted one at a time to `POST /v1/events` (the next once "
    "the previous incident is disconnected and the switch released: left engaged, the next incident's "
    "disconnected_at would be when the worker's step found it engaged, not a disconnect), shipped "
    "tiktok-compromise playbook; latency = "
    "incident.disconnected_at - incident.aware_at (the event's received_at) from the store; incident "
    "opened = the event's outbox row's done_at (the worker correlated it) - aware_at. Broker Redis, "
    "store PostgreSQL, an empty token inventory; one worker per queue class as docker/compose.yaml deploys "
    "them (events; playbooks and notifications; revocation), so a new event never waits behind the "
    f"previous incident's revocation or notifications. {RUNS_NOTE} A run's p50, p95 and p99 are over its "
    "own incidents."
)
