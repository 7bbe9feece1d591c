"""Event received to kill switch engaged (issue 4 #4), a part of ``benchmarks.revocation``:
``revocation:switch``. Critical events one at a time on Redis + PostgreSQL, ``RUNS`` runs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
from sqlalchemy import create_engine, text

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
from benchmarks.tiktok import simulator

__all__ = ["SWITCH_NOTES", "switch"]

COMMAND = ".venv/bin/python -m benchmarks.revocation"
WORKERS = ("events", "playbooks,notifications", "revocation")
"""One worker per queue class, as docker/compose.yaml deploys them."""


def _latencies(incidents: int) -> list[float]:
    """One run on a fresh deployment: each incident's awareness -> disconnected in ms, in order of
    disconnection (those not disconnected within 60 s are missing)."""
    with workdir() as tmp, simulator(tmp) as (sim_url, _sim):
        inventory = tmp / "tokens.jsonl"
        inventory.write_text("")
        with postgres_database() as store, redis_database() as broker:
            port = free_port()
            env = orchestrator_env(tmp / "data", database_url=store, broker_url=broker,
                                   tiktok_api_base=sim_url, token_inventory=str(inventory))  # fmt: skip
            upgrade_store(env, tmp / "upgrade.log")
            procs = [Proc.orchestrator("serve", "--port", str(port), env=env, log=tmp / "serve.log")]
            procs.append(Proc.orchestrator("scheduler", env=env, log=tmp / "scheduler.log"))
            for queues in WORKERS:
                log = tmp / f"{queues}.log"
                procs.append(Proc.orchestrator("worker", "--queues", queues, env=env, log=log))
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200,
                         timeout=60, what="the API")  # fmt: skip
                found = _post_one_at_a_time(url, store, incidents)
            finally:
                for proc in procs:
                    proc.stop()
    return [(d - a).total_seconds() * 1000 for a, d in found]


def _post_one_at_a_time(url: str, store: str, incidents: int) -> list[Any]:
    """Post ``incidents`` critical events, the next once the previous is disconnected (the latency
    of one incident, not of a queue); the (aware_at, disconnected_at) rows."""
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
    db = create_engine(store)
    query = text("SELECT aware_at, disconnected_at FROM incidents WHERE disconnected_at IS NOT NULL")
    found: list[Any] = []
    try:
        with httpx.Client(base_url=url, timeout=30, headers=headers) as client, db.connect() as conn:
            for n in range(incidents):
                key = f"bench-switch-{n}-{time.time_ns()}"
                event = {"title": f"Benchmark compromise {n}", "kind": "bench.compromise",
                         "severity": "critical", "dedup_key": key}  # fmt: skip
                client.post("/v1/events", json=event).raise_for_status()
                deadline = time.monotonic() + 60
                while len(found) <= n and time.monotonic() < deadline:
                    time.sleep(0.02)
                    found = list(conn.execute(query))
                    conn.commit()
                time.sleep(0.3)  # let the incident's later steps (revoke, tally) finish
    finally:
        db.dispose()
    return found


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
    p50, p95, p99 = (list(column) for column in zip(*(_cuts(r) for r in runs), strict=True))
    fewest = min(len(r) for r in runs)
    return [
        Figure("switch: incidents disconnected (each within 60 s)", fewest, "incidents",
               f"all {incidents} in each of {len(runs)} runs (the fewest)", fewest >= incidents, command),
        median_figure(f"switch: event received -> disconnected, p50 ({incidents} incidents, Redis)", p50,
                      "ms", command),
        median_figure("switch: p95", p95, "ms", command),
        median_figure("switch: p99", p99, "ms", command, goal="< 50", met=lambda p: p < 50),
    ]  # fmt: skip


SWITCH_NOTES = (
    "Critical events with distinct dedup keys posted one at a time to `POST /v1/events` (the next once "
    "the previous incident is disconnected), shipped tiktok-compromise playbook; latency = "
    "incident.disconnected_at - incident.aware_at (the event's received_at) from the store. Broker Redis, "
    "store PostgreSQL, an empty token inventory; one worker per queue class as docker/compose.yaml deploys "
    "them (events; playbooks and notifications; revocation), so a new event never waits behind the "
    f"previous incident's revocation or notifications. {RUNS_NOTE} A run's p50, p95 and p99 are over its "
    "own incidents."
)
