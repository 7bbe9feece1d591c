"""Mass-revocation benchmarks (issue 4): throughput, rate-limit fidelity, 1M tokens' memory, switch latency;
several incidents at once (issue 21, ``benchmarks/revocation_concurrent.py``).

Run from the project root with PostgreSQL and Redis on 127.0.0.1::

    .venv/bin/python -m benchmarks.revocation [--quick] [concurrent|throughput|ratelimit|million|switch ...]

Each benchmark starts real processes (``orchestrator simulate tiktok`` in its own process,
``orchestrator scheduler``, ``orchestrator worker``, ``orchestrator serve``) on Redis (broker, db 13)
and a throwaway PostgreSQL database (store), prints its figures as JSON lines and cleans up.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from benchmarks.common import (
    INTAKE_TOKEN,
    Figure,
    Proc,
    free_port,
    log_tails,
    orchestrator_env,
    peak_rss_mb,
    postgres_database,
    redis_database,
    run_named,
    upgrade_store,
    wait_for,
    workdir,
)
from benchmarks.revocation_concurrent import concurrent
from benchmarks.tiktok import (
    issue_tokens,
    jsonl_inventory,
    load_generator,
    simulator,
    simulator_stats,
    sql_inventory,
)

__all__ = ["BENCHMARKS", "NOTES", "run"]

COMMAND = ".venv/bin/python -m benchmarks.revocation"
MILLION_BOUND = 3000.0  # seconds: the 1M run stops here and reports what it settled
SETTLED = ("revoked", "already_dead", "failed", "grant_lost", "gone")
ALL_QUEUES = "events,playbooks,revocation,notifications"
PLAYBOOK_QUEUES = "events,playbooks,notifications"
REVOCATION_QUEUE = "revocation"  # batches


def _consuming(store: Engine, workers: int) -> bool:
    """Whether ``workers`` workers consume: each writes its heartbeat row once Celery's consumer is
    ready (the worker runs ``--quiet`` since 1585eaa, so no "[queues]" banner says so any more)."""
    with store.connect() as conn:
        beating = conn.execute(text("SELECT count(*) FROM heartbeats WHERE role = 'worker'")).scalar_one()
    return int(beating) >= workers


def revoke_all(
    tmp: Path,
    settings: dict[str, str],
    *,
    expected: int,
    workers: tuple[str, ...],
    timeout: float,
    sample: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Start a scheduler and one worker per entry of ``workers`` (the queues it consumes), run
    ``tokens revoke --scope all``, wait; report."""
    env = orchestrator_env(tmp / "data", **settings)
    store = create_engine(settings["database_url"])
    procs: dict[str, Proc] = {}
    peaks: dict[str, float] = {}
    try:
        upgrade_store(env, tmp / "upgrade.log")
        procs["scheduler"] = Proc.orchestrator("scheduler", env=env, log=tmp / "scheduler.log")
        for n, queues in enumerate(workers):
            log = tmp / f"worker-{n}.log"
            procs[f"worker-{n}"] = Proc.orchestrator("worker", "--queues", queues, env=env, log=log)
        wait_for(partial(_consuming, store, len(workers)), timeout=120, what="every worker to consume")
        profile = os.environ.get("ORCH_BENCH_PROFILE")  # a folder: py-spy each worker while it runs
        if profile:
            for name in [n for n in procs if n.startswith("worker")]:
                out = Path(profile) / f"{name}.raw"
                spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--gil",
                       "-p", str(procs[name].pid), "-f", "raw", "-r", "50", "--nonblocking",
                       "-o", str(out)]  # fmt: skip
                procs[f"py-spy {name}"] = Proc(spy, env=dict(os.environ), log=tmp / f"py-spy-{name}.log")
        started, wall_started = time.monotonic(), time.time()
        Proc.orchestrator("tokens", "revoke", "--scope", "all", "--no-wait", env=env, log=tmp / "cli.log")
        counts: dict[str, int] = {}

        def settled() -> int:
            with store.connect() as conn:
                rows = conn.execute(text("SELECT status, count(*) FROM revocation_ledger GROUP BY status"))
                counts.clear()
                counts.update({str(s): int(n) for s, n in rows})
            for name, proc in procs.items():
                peaks[name] = max(peaks.get(name, 0.0), peak_rss_mb(proc.pid))
            if sample is not None:
                sample(time.monotonic() - started)
            return sum(n for s, n in counts.items() if s in SETTLED)

        deadline, done = started + timeout, 0
        while time.monotonic() < deadline:
            try:
                done = settled()
            except Exception:  # the schema may not exist yet
                done = 0
            if done >= expected:
                break
            time.sleep(1.0)
        seconds = time.monotonic() - started
        if done < expected:  # say why on stderr: the logs vanish with the temporary directory
            log_tails(tmp)
        else:  # to the last ledger row's settling, not to the poll (up to a second later) that saw it
            seconds = min(seconds, _last_settled(store) - wall_started)
        with store.connect() as conn:
            finished = conn.execute(text("SELECT count(*) FROM revocations WHERE status = 'finished'"))
            is_finished = bool(finished.scalar())
        return {"settled": done, "counts": dict(counts), "seconds": seconds, "peaks": peaks,
                "finished": is_finished, "complete": done >= expected}  # fmt: skip
    finally:
        for name, proc in sorted(procs.items(), key=lambda item: not item[0].startswith("py-spy")):
            proc.stop(signal.SIGINT if name.startswith("py-spy") else signal.SIGTERM)  # py-spy saves on ^C
        store.dispose()


def _last_settled(store: Engine) -> float:
    """Unix time of the last ledger row's outcome (the store keeps UTC)."""
    with store.connect() as conn:
        last = conn.execute(text("SELECT max(updated_at) FROM revocation_ledger")).scalar_one()
    return float(last.replace(tzinfo=last.tzinfo or UTC).timestamp())


def _settings(sim_url: str, store: str, broker: str, inventory: str, **extra: str) -> dict[str, str]:
    return {"database_url": store, "broker_url": broker, "tiktok_api_base": sim_url,
            "token_inventory": inventory, **extra}  # fmt: skip


def _fresh(sim_url: str, count: int) -> list[str]:
    return [record["access_token"] for record in issue_tokens(sim_url, count)]


def _steady_rate(samples: list[tuple[float, int]], count: int) -> float:
    """Requests/s between the first and the last sample taken while requests were flowing."""
    moving = [(t, n) for t, n in samples if 0 < n < count]
    if len(moving) < 2:
        return 0.0
    (t0, n0), (t1, n1) = moving[0], moving[-1]
    return (n1 - n0) / (t1 - t0)


def throughput(quick: bool) -> list[Figure]:
    """Issue 4 #1: orchestrator revokes/s with no rate limit vs the simulator's raw capacity."""
    count = 2_000 if quick else 20_000
    revokers, tasks, width = int(os.environ.get("ORCH_BENCH_REVOKERS", "2")), 4, 16
    workers = (PLAYBOOK_QUEUES,) + (REVOCATION_QUEUE,) * revokers  # as docker/compose.yaml deploys them
    concurrency = revokers * tasks * width
    command = f"{COMMAND} {'--quick ' if quick else ''}throughput"
    with workdir() as tmp, simulator(tmp) as (sim_url, _sim):
        raw = load_generator(sim_url, _fresh(sim_url, count), concurrency, revokers)
        inventory = jsonl_inventory(sim_url, count, tmp / "tokens.jsonl")
        before = simulator_stats(sim_url)
        samples: list[tuple[float, int]] = []

        def sample(at: float) -> None:
            samples.append(
                (at, int(simulator_stats(sim_url)["revoke_requests"]) - int(before["revoke_requests"]))
            )

        with postgres_database() as store, redis_database() as broker:
            settings = _settings(sim_url, store, broker, str(inventory), tiktok_revoke_rate="0",
                                 worker_concurrency=str(tasks), revocation_concurrency=str(width),
                                 relay_interval_seconds="0.2")  # fmt: skip
            result = revoke_all(tmp, settings, expected=count, workers=workers, timeout=900, sample=sample)
        after = simulator_stats(sim_url)
        raw_after = load_generator(sim_url, _fresh(sim_url, count), concurrency, revokers)
    capacity = (raw + raw_after) / 2
    rate = result["settled"] / result["seconds"]
    steady = _steady_rate(samples, count)
    twice = after["tokens_revoked_more_than_once"] - before["tokens_revoked_more_than_once"]
    return [
        Figure("throughput: simulator raw capacity (load generator, mean of before/after)",
               round(capacity, 1), "revokes/s", f"baseline, {concurrency} threads", None, command),
        Figure(f"throughput: orchestrator end to end, {count} tokens (command to last settled)",
               round(rate, 1), "revokes/s",
               f"{revokers} revocation worker(s) x {tasks} tasks x {width} in flight; "
               f"{result['settled']} settled",
               None, command),
        Figure("throughput: orchestrator / simulator capacity", round(rate / capacity, 3), "ratio",
               ">= 0.5", rate / capacity >= 0.5, command),
        Figure("throughput: steady revokes/s (first to last request, simulator counter)",
               round(steady, 1), "revokes/s", f"ratio {steady / capacity:.3f} (excludes planning)", None,
               command),
        Figure("throughput: tokens revoked more than once", twice, "tokens", "0", twice == 0, command),
    ]  # fmt: skip


def ratelimit(quick: bool) -> list[Figure]:
    """Issue 4 #2: against a 1200/min simulator limit with ORCH_TIKTOK_REVOKE_RATE=20."""
    limit_per_s, seconds = 20, (30 if quick else 75)
    count = limit_per_s * seconds
    command = f"{COMMAND} {'--quick ' if quick else ''}ratelimit"
    samples: list[tuple[float, int]] = []
    limit = 60 * limit_per_s
    with workdir() as tmp, simulator(tmp, rate_limit_per_minute=limit) as (sim_url, _sim):
        inventory = jsonl_inventory(sim_url, count, tmp / "tokens.jsonl")
        with postgres_database() as store, redis_database() as broker:
            settings = _settings(sim_url, store, broker, str(inventory), tiktok_revoke_rate=str(limit_per_s),
                                 revocation_batch_size="500", relay_interval_seconds="0.2")  # fmt: skip

            def sample(at: float) -> None:
                samples.append((at, int(simulator_stats(sim_url)["revoke_requests"])))

            result = revoke_all(tmp, settings, expected=count, workers=(ALL_QUEUES,), timeout=seconds * 3,
                                sample=sample)  # fmt: skip
        stats = simulator_stats(sim_url)
    sustained = _steady_rate(samples, count)
    moving = [t for t, n in samples if 0 < n < count] or [0.0]
    attempts = int(stats["requests_by_endpoint"].get("revoke", 0))
    share_429 = stats["answered_429"] / attempts if attempts else 0.0
    return [
        Figure(f"rate limit: sustained revokes/s over {moving[-1] - moving[0]:.0f} s (limit {limit_per_s}/s)",
               round(sustained, 2), "revokes/s", f"settled {result['settled']}/{count}", None, command),
        Figure("rate limit: sustained / limit", round(sustained / limit_per_s, 3), "fraction",
               ">= 0.90", sustained / limit_per_s >= 0.9, command),
        Figure("rate limit: requests answered 429", round(100 * share_429, 2), "%",
               f"< 1 % ({stats['answered_429']} of {attempts})", share_429 < 0.01, command),
    ]  # fmt: skip


def million(quick: bool, *, count: int = 0, timeout: float = 0, workers: int = 2) -> list[Figure]:
    """Issue 4 #3: 1,000,000 tokens (50,000 with --quick) from a PostgreSQL table, peak RSS per process."""
    count = count or (50_000 if quick else 1_000_000)
    timeout = timeout or MILLION_BOUND
    command = f"{COMMAND} {'--quick ' if quick else ''}--million-bound {timeout:.0f} million"
    with workdir() as tmp, simulator(tmp) as (sim_url, _sim):
        with postgres_database() as tokens_db, postgres_database() as store, redis_database() as broker:
            seeded_at = time.monotonic()
            inventory = sql_inventory(sim_url, count, tokens_db)
            seeding = time.monotonic() - seeded_at
            settings = _settings(sim_url, store, broker, inventory, tiktok_revoke_rate="0",
                                 worker_concurrency="4", revocation_concurrency="16",
                                 revocation_batch_size="1000", relay_interval_seconds="0.5")  # fmt: skip
            result = revoke_all(tmp, settings, expected=count, workers=(ALL_QUEUES,) * workers,
                                timeout=timeout)  # fmt: skip
        stats = simulator_stats(sim_url)
    worst = max(v for k, v in result["peaks"].items() if k.startswith("worker"))
    figures = [
        Figure(f"1M: inventory seeded ({count} rows, COPY)", round(seeding, 1), "s", "", None, command),
        Figure("1M: tokens settled (revoked or already dead)", result["settled"], "tokens",
               f"all {count}", result["settled"] >= count, command),
        Figure("1M: duration (command to last settled, or bound)", round(result["seconds"], 1), "s",
               f"bound {timeout:.0f} s", None, command),
        Figure("1M: revokes/s", round(result["settled"] / result["seconds"], 1), "revokes/s", "", None,
               command),
        Figure("1M: tokens revoked more than once", stats["tokens_revoked_more_than_once"], "tokens", "0",
               stats["tokens_revoked_more_than_once"] == 0, command),
    ]  # fmt: skip
    for proc, peak in sorted(result["peaks"].items()):
        goal = "< 200" if proc.startswith("worker") else ""
        met = peak < 200 if proc.startswith("worker") else None
        figures.append(Figure(f"1M: peak RSS (VmHWM) of {proc}", peak, "MiB", goal, met, command))
    figures.append(Figure("1M: worst worker peak RSS", worst, "MiB", "< 200", worst < 200, command))
    return figures


SWITCH_WORKERS = ("events", "playbooks,notifications", "revocation")


def switch(quick: bool) -> list[Figure]:
    """Issue 4 #4: event received to kill switch engaged (incident aware_at -> disconnected_at), Redis."""
    incidents = 40 if quick else 200
    command = f"{COMMAND} {'--quick ' if quick else ''}switch"
    with workdir() as tmp, simulator(tmp) as (sim_url, _sim):
        inventory = tmp / "tokens.jsonl"
        inventory.write_text("")
        with postgres_database() as store, redis_database() as broker:
            port = free_port()
            env = orchestrator_env(tmp / "data", **_settings(sim_url, store, broker, str(inventory)))
            upgrade_store(env, tmp / "upgrade.log")
            procs = [Proc.orchestrator("serve", "--port", str(port), env=env, log=tmp / "serve.log")]
            procs.append(Proc.orchestrator("scheduler", env=env, log=tmp / "scheduler.log"))
            for queues in SWITCH_WORKERS:  # as docker/compose.yaml deploys them: one per queue class
                log = tmp / f"{queues}.log"
                procs.append(Proc.orchestrator("worker", "--queues", queues, env=env, log=log))
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200,
                         timeout=60, what="the API")  # fmt: skip
                headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
                db = create_engine(store)
                query = text(
                    "SELECT aware_at, disconnected_at FROM incidents WHERE disconnected_at IS NOT NULL"
                )
                found: list[Any] = []
                with httpx.Client(base_url=url, timeout=30, headers=headers) as client, db.connect() as conn:
                    for n in range(incidents):  # one at a time: the latency of one incident, not a queue
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
                db.dispose()
            finally:
                for proc in procs:
                    proc.stop()
    latencies = sorted((d - a).total_seconds() * 1000 for a, d in found) or [float("nan")] * 2
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return [
        Figure("switch: incidents disconnected (each within 60 s)", len(found), "incidents",
               f"all {incidents}", len(found) >= incidents, command),
        Figure(f"switch: event received -> disconnected, p50 ({len(latencies)} incidents, Redis)",
               round(cuts[49], 1), "ms", "", None, command),
        Figure("switch: p95", round(cuts[94], 1), "ms", "", None, command),
        Figure("switch: p99", round(cuts[98], 1), "ms", "< 50", cuts[98] < 50, command),
    ]  # fmt: skip


NOTES = {
    "throughput": "The simulator runs alone in its own process. The orchestrator is deployed as "
    "docker/compose.yaml does, with its revocation worker scaled to one process per core: a worker for "
    "events, playbooks and notifications (the revoke step plans and follows there) and 2 revocation "
    "workers (4 tasks x 16 requests in flight each; `ORCH_BENCH_REVOKERS=N` changes the 2), default "
    "batch size, broker Redis, store PostgreSQL, inventory a JSON-lines file. The simulator's raw "
    "capacity is a plain load generator with the same processes and concurrency (urllib3 keep-alive "
    "threads, as the orchestrator's client; an httpx generator was bound by its own CPU at a third of "
    "the simulator's capacity) revoking fresh tokens, measured before and after the orchestrator's "
    "run. The orchestrator's rate is tokens settled / time from starting `tokens revoke --scope all` "
    "(workers already consuming; the CLI's own start-up counts) to the last ledger row's update. "
    "`ORCH_BENCH_PROFILE=DIR` also records each worker with py-spy --gil (raw stacks).",
    "ratelimit": "Simulator limit 1200/min on revoke; `ORCH_TIKTOK_REVOKE_RATE=20`. Sustained rate = "
    "revoke requests the simulator accepted between the first and the last one-second sample with "
    "requests flowing; 429 share = answered 429 / every revoke request it saw.",
    "million": "Inventory: a PostgreSQL table seeded with COPY from the simulator. Two worker "
    "processes (4 tasks x 16 in flight each) and a scheduler on Redis + PostgreSQL. Peak RSS is "
    "VmHWM from /proc, read every second while the process lives. The run is bounded in time; when "
    "the bound ends it first, the figures say how many tokens were settled.",
    "switch": "Critical events with distinct dedup keys posted one at a time to `POST /v1/events` "
    "(the next once the previous incident is disconnected), shipped tiktok-compromise playbook; latency "
    "= incident.disconnected_at - incident.aware_at (the event's received_at) from the store. Broker "
    "Redis, store PostgreSQL, an empty token inventory; one worker per queue class as docker/compose.yaml "
    "deploys them (events; playbooks and notifications; revocation), so a new event never waits behind "
    "the previous incident's revocation or notifications.",
}

BENCHMARKS: dict[str, Callable[[bool], list[Figure]]] = {
    "concurrent": concurrent,
    "throughput": throughput,
    "ratelimit": ratelimit,
    "million": million,
    "switch": switch,
}


def run(quick: bool, names: list[str] | None = None) -> list[Figure]:
    """Run the named revocation benchmarks (all by default), printing each figure as a JSON line."""
    return run_named(BENCHMARKS, quick, names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--million-bound", type=float, default=MILLION_BOUND, help="seconds, 1M run")
    args = parser.parse_args()
    MILLION_BOUND = args.million_bound
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    run(args.quick, args.names or None)
    sys.exit(0)
