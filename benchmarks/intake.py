"""Intake benchmark (issue 7): events/s accepted and latency on loopback, and a storm of one compromise.

    .venv/bin/python -m benchmarks [--quick] intake[:embedded|:redis]

For each setup it starts ``orchestrator up`` (API, worker and scheduler as real processes), then
measures with ``benchmarks/loadgen.py`` (keep-alive HTTP/1.1 over plain sockets, on the same cores):

1. the baseline: ``GET /healthz`` round trips per second (a store and a broker ping), 16 threads;
2. the goal: ``POST /v1/events`` with distinct events offered at 1,000 a second (open loop, 64
   connections), accepted per second and p50/p95/p99 counted from when each was due, and the
   CPU each event cost the ``up`` process and its children (not the store or broker), also as a
   ratio to the load generator's own CPU per request in the same run (the machine's speed drifts),
   and the outbox rows still owed at the end and how long until the worker has done them all;
3. capacity: the same events as fast as 16 connections go (closed loop), with one API process
   and, on a fresh instance, one per core (``ORCH_API_PROCESSES``);
4. the storm, on a fresh instance: 10,000 alerts of one compromise (one fingerprint) as
   Alertmanager deliveries of 10 alerts each, all answered 202, then the one incident they open.

All four are one run, on a fresh store and broker; each setup makes ``RUNS`` runs (``benchmarks.common``)
and reports their medians.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    API_TOKEN,
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
    run_named,
    upgrade_store,
    wait_for,
    workdir,
)
from benchmarks.loadgen import Call, closed, paced

__all__ = ["BENCHMARKS", "NOTES", "run"]

THREADS = 16
CORES = os.cpu_count() or 2
STORM_GROUP = 10
Deployment = Callable[[], AbstractContextManager[dict[str, str]]]
"""Enters a fresh store and broker for one run; yields their settings (none: the embedded defaults)."""


@contextmanager
def orchestrator(**settings: str) -> Iterator[tuple[str, int]]:
    """``orchestrator up`` on a free port with the given settings; yields its base URL and pid."""
    port = free_port()
    with workdir() as tmp:
        env = orchestrator_env(tmp / "data", **{"log_level": "info", **settings})  # the default level
        upgrade_store(env, tmp / "upgrade.log")
        proc = Proc.orchestrator("up", "--port", str(port), env=env, log=tmp / "up.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, timeout=60, what="up")
            yield url, proc.popen.pid
        finally:
            proc.stop()


def load(url: str, request: Callable[[int], Call], *, seconds: float = 0, total: int = 0) -> dict[str, Any]:
    """Closed loop from ``THREADS`` connections for ``seconds`` or ``total`` requests."""
    return closed(_port(url), INTAKE_TOKEN, request, threads=THREADS, seconds=seconds, total=total)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def healthz(_n: int) -> Call:
    return ("GET", "/healthz", b"")


def post_event(n: int) -> Call:
    event = {
        "title": f"Benchmark event {n}",
        "kind": "bench.event",
        "severity": "low",
        "dedup_key": f"bench-{n % 500}",
        "entities": {"hosts": [f"host-{n % 50}"]},
    }
    return ("POST", "/v1/events", json.dumps(event).encode())


def storm_alert(n: int) -> Call:
    labels = {"alertname": "TikTokTokenExfiltration", "severity": "critical"}
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "orchestrator",
        "groupKey": '{}:{alertname="TikTokTokenExfiltration"}',
        "groupLabels": {"alertname": "TikTokTokenExfiltration"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {**labels, "replica": f"{n}-{i}"},
                "annotations": {"summary": "TikTok tokens read from the vault by an unknown host"},
                "startsAt": "2026-11-26T17:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": "storm-one-compromise",
            }
            for i in range(STORM_GROUP)
        ],
    }
    return ("POST", "/v1/events/alertmanager", json.dumps(body).encode())


def storm_incidents(url: str, alerts: int, timeout: float) -> tuple[list[tuple[str, int]], float]:
    """The incidents the storm opened, once the first has counted every alert (or at ``timeout``)."""
    started = time.perf_counter()
    found: list[tuple[str, int]] = []
    while time.perf_counter() - started < timeout:
        answer = httpx.get(
            f"{url}/v1/incidents?limit=1000", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
        )
        found = [
            (i["dedup_key"], i["event_count"])
            for i in answer.json()["incidents"]
            if i["dedup_key"].startswith("alertmanager:")
        ]
        if found and found[0][1] >= alerts:
            break
        time.sleep(1)
    return found, time.perf_counter() - started


def outbox_drained(url: str, timeout: float) -> tuple[int, float]:
    """The outbox rows still owed now, and the seconds until none is (the worker caught up)."""
    started, owed = time.perf_counter(), -1
    while time.perf_counter() - started < timeout:
        answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
        depth = next(
            int(float(line.split()[1])) for line in answer.text.splitlines()
            if line.startswith("orchestrator_outbox_depth ")
        )  # fmt: skip
        owed = depth if owed < 0 else owed
        if depth == 0:
            break
        time.sleep(0.5)
    return owed, time.perf_counter() - started


GOAL_RATE = 1000.0
"""Events per second the issue asks the intake to sustain, with p99 under 50 ms."""
PACED_CONNECTIONS = 64
"""Connections of the open-loop run: enough that a slow answer seldom delays the next send."""


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and every live process below it, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu: dict[int, float] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue  # self, thread-self, and files
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone since the listing
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    stack, total = [pid], 0.0
    while stack:
        member = stack.pop()
        total += cpu.get(member, 0.0)
        stack += children.get(member, [])
    return total


def _sustained(seconds: float, url: str, pid: int) -> dict[str, float]:
    """The goal itself: events offered at ``GOAL_RATE`` a second, latency counted from when due; and
    what each event costs the orchestrator's processes in CPU, as a ratio to what each request
    costs the load generator in the same run (this machine's speed drifts within minutes)."""
    served, generated = tree_cpu_seconds(pid), time.process_time()
    run = paced(_port(url), INTAKE_TOKEN, post_event, rate=GOAL_RATE, seconds=seconds,
                connections=PACED_CONNECTIONS)  # fmt: skip
    served, generated = tree_cpu_seconds(pid) - served, time.process_time() - generated
    owed, caught_up = outbox_drained(url, timeout=600)
    return {"cpu_ms": served * 1000 / max(run["requests"], 1), "cpu_ratio": served / max(generated, 1e-9),
            "rate": run["per_second"], "p50": run["p50_ms"], "p95": run["p95_ms"], "p99": run["p99_ms"],
            "refused": sum(n for status, n in run["statuses"].items() if status != 202),
            "owed": owed, "caught_up": caught_up}  # fmt: skip


def _capacity(seconds: float, url: str) -> dict[str, float]:
    """Closed loop: as fast as ``THREADS`` connections go, and the GET /healthz baseline before it."""
    baseline = load(url, healthz, seconds=seconds / 2)
    intake = load(url, post_event, seconds=seconds)
    return {"baseline": baseline["per_second"], "rate": intake["per_second"],
            "ratio": intake["per_second"] / baseline["per_second"], "p50": intake["p50_ms"],
            "p99": intake["p99_ms"]}  # fmt: skip


def _once(deployment: Deployment, seconds: float, alerts: int) -> dict[str, dict[str, float]]:
    """One run on a fresh deployment: the goal and capacity on one instance, capacity with an API
    process per core on a second, the storm on a third."""
    with deployment() as settings:
        with orchestrator(**settings) as (url, pid):
            load(url, healthz, total=200)  # warm up
            goal = _sustained(seconds, url, pid)
            one = _capacity(seconds, url)
        with orchestrator(**settings, api_processes=str(CORES)) as (url, _):
            load(url, healthz, total=200)
            many = _capacity(seconds, url)
        with orchestrator(**settings) as (url, _):
            storm = load(url, storm_alert, total=alerts // STORM_GROUP)
            incidents, waited = storm_incidents(url, alerts, timeout=600)
    refused = sum(n for status, n in storm["statuses"].items() if status != 202)
    return {"goal": goal, "one": one, "many": many,
            "storm": {"answered": alerts - refused * STORM_GROUP, "rate": alerts / storm["seconds"],
                      "incidents": len(incidents), "counted": incidents[0][1] if incidents else 0,
                      "waited": waited}}  # fmt: skip


def _pair(name: str, first: list[float], second: list[float], command: str) -> Figure:
    """Two latency cuts in one figure ("p50 / p99"): their medians, and their mins and maxes alike."""
    value, least, most = (f"{round(pick(first), 1)} / {round(pick(second), 1)}"
                          for pick in (statistics.median, min, max))  # fmt: skip
    return Figure(name, value, "ms", f"min {least}, max {most}, {len(first)} runs", None, command)


def _setup(label: str, quick: bool, deployment: Deployment) -> list[Figure]:
    """Every run of one setup, then its figures: a median for each measure, the worst run for each
    count that must hold in every run."""
    seconds, alerts = (5.0, 2_000) if quick else (15.0, 10_000)
    command = f".venv/bin/python -m benchmarks {'--quick ' if quick else ''}intake:{label.split()[0]}"
    name, at = f"intake ({label})", f"intake ({label}): at {GOAL_RATE:.0f}/s"
    runs = [_once(deployment, seconds, alerts) for _ in range(run_count(quick))]

    def column(part: str, key: str) -> list[float]:
        return [r[part][key] for r in runs]

    refused, every = max(column("goal", "refused")), f"in each of {len(runs)} runs"
    figures = [
        median_figure(f"{at}, CPU per event (API, worker, scheduler)", column("goal", "cpu_ms"), "ms",
                      command, digits=3),
        median_figure(f"{at}, CPU per event / load generator's CPU per request", column("goal", "cpu_ratio"),
                      "ratio", command, goal="same run"),
        median_figure(f"{name}: offered {GOAL_RATE:.0f}/s for {seconds:.0f} s, accepted",
                      column("goal", "rate"), "events/s", command, goal=f">= {GOAL_RATE * 0.99:.0f}",
                      met=lambda rate: rate >= GOAL_RATE * 0.99 and refused == 0),
        _pair(f"{at}, latency p50 / p95", column("goal", "p50"), column("goal", "p95"), command),
        median_figure(f"{at}, latency p99", column("goal", "p99"), "ms", command, goal="< 50",
                      met=lambda p99: p99 < 50),
        Figure(f"{at}, answers other than 202", refused, "", f"0 {every} (the most)", refused == 0, command),
        median_figure(f"{at}, outbox rows owed at the end of the run", column("goal", "owed"), "rows",
                      command, digits=None),
        median_figure(f"{at}, outbox empty after the last event (worker caught up)",
                      column("goal", "caught_up"), "s", command),
    ]  # fmt: skip
    for part, processes in (("one", "1 API process"), ("many", f"{CORES} API processes")):
        label = f"{name}, {processes}"
        figures += [
            median_figure(f"{label}: baseline GET /healthz", column(part, "baseline"), "req/s", command,
                          goal=f"{THREADS} threads"),
            median_figure(f"{label}: capacity, {THREADS} connections for {seconds:.0f} s",
                          column(part, "rate"), "events/s", command),
            median_figure(f"{label}: capacity / baseline", column(part, "ratio"), "ratio", command,
                          goal="same run", digits=2),
            _pair(f"{label}: capacity latency p50 / p99", column(part, "p50"), column(part, "p99"), command),
        ]  # fmt: skip
    scaling = [r["many"]["rate"] / r["one"]["rate"] for r in runs]
    answered = min(column("storm", "answered"))
    opened = max(column("storm", "incidents"), key=lambda n: n != 1)  # a run that opened other than 1, if any
    counted = max(column("storm", "counted"), key=lambda n: n != alerts)
    return [
        *figures,
        median_figure(f"{name}: capacity with {CORES} API processes / 1", scaling, "ratio", command,
                      goal="same run", digits=2),
        Figure(f"{name}: storm of {alerts} alerts, answered 202", answered, "alerts",
               f"all {alerts}, no 429, {every} (the fewest)", answered == alerts, command),
        median_figure(f"{name}: storm alerts accepted per second", column("storm", "rate"), "alerts/s",
                      command, goal=f">= {alerts / 60:.0f} (all in a minute)",
                      met=lambda rate: rate >= alerts / 60),
        Figure(f"{name}: storm incidents opened", opened, "", f"1 {every}", opened == 1, command),
        Figure(f"{name}: storm alerts counted on the incident", counted, "alerts", f"{alerts} {every}",
               counted == alerts, command),
        median_figure(f"{name}: storm correlated after the last delivery", column("storm", "waited"), "s",
                      command),
    ]  # fmt: skip


def embedded(quick: bool) -> list[Figure]:
    return _setup("embedded (SQLite + filesystem broker)", quick, lambda: nullcontext({}))


@contextmanager
def _redis_postgres() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL database as store and a Redis database as broker, as settings."""
    with postgres_database() as store, redis_database() as broker:
        yield {"database_url": store, "broker_url": broker}


def redis(quick: bool) -> list[Figure]:
    return _setup("redis (Redis + PostgreSQL)", quick, _redis_postgres)


NOTES = {
    "embedded": "`orchestrator up` with no config (SQLite store, filesystem broker). The goal run offers "
    f"{GOAL_RATE:.0f} events/s open loop from {PACED_CONNECTIONS} keep-alive connections driven by one "
    "thread, each request due at n/1000 s and its latency counted from then (a stalled server cannot slow "
    f"the generator and hide its stall). Capacity is closed loop from {THREADS} connections, with the "
    f"default single API process and, on a fresh instance, `ORCH_API_PROCESSES={CORES}`. The load "
    "generator (HTTP/1.1 over plain sockets, benchmarks/loadgen.py) runs on the same 2 CPUs as the API, "
    "the worker and the scheduler; the worker correlates while the API accepts. GET /healthz/s is measured "
    "just before each capacity run with the same threads. The orchestrator logs at its default level, info "
    f"(a line per accepted request), to a file. {RUNS_NOTE}",
    "redis": "The same with Redis as broker and PostgreSQL as store.",
}

BENCHMARKS: dict[str, Callable[[bool], list[Figure]]] = {"embedded": embedded, "redis": redis}


def run(quick: bool, names: list[str] | None = None) -> list[Figure]:
    """Run the named intake benchmarks (both setups by default), printing each figure as a JSON line."""
    return run_named(BENCHMARKS, quick, names)


if __name__ == "__main__":
    import sys

    run("--quick" in sys.argv, [a for a in sys.argv[1:] if not a.startswith("-")] or None)
