"""Mass-revocation benchmarks (issue 4): throughput, rate-limit fidelity, 1M tokens' memory, switch latency
(``benchmarks/revocation_switch.py``); several incidents at once (issue 21, ``revocation_concurrent.py``).

Run from the project root with PostgreSQL and Redis on 127.0.0.1::

    .venv/bin/python -m benchmarks.revocation [--quick] [concurrent|throughput|ratelimit|million|switch ...]

Each benchmark starts real processes (``orchestrator simulate tiktok`` in its own process,
``orchestrator scheduler``, ``orchestrator worker``, ``orchestrator serve``) on Redis (broker, db 13)
and a throwaway PostgreSQL database (store), prints its figures as JSON lines and cleans up. Each but
the ten-minute ``million`` runs ``RUNS`` times (``benchmarks.common``) and reports medians.
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

from sqlalchemy import Engine, create_engine, text

from benchmarks.common import (
    RUNS_NOTE,
    Figure,
    Proc,
    log_tails,
    median_figure,
    orchestrator_env,
    peak_rss_mb,
    postgres_database,
    redis_database,
    run_count,
    run_named,
    upgrade_store,
    wait_for,
    workdir,
)
from benchmarks.revocation_concurrent import concurrent
from benchmarks.revocation_switch import SWITCH_NOTES, switch
from benchmarks.revocation_up import UP_NOTES, up
from benchmarks.tiktok import (
    issue_tokens,
    jsonl_inventory,
    load_generator,
    simulator,
    simulator_stats,
    sql_inventory,
    steady_rate,
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


def _throughput_once(count: int, revokers: int, tasks: int, width: int) -> dict[str, float]:
    """One run: the simulator's raw capacity, the orchestrator's revocation, the raw capacity again."""
    workers = (PLAYBOOK_QUEUES,) + (REVOCATION_QUEUE,) * revokers  # as docker/compose.yaml deploys them
    concurrency = revokers * tasks * width
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
    rate, steady = result["settled"] / result["seconds"], steady_rate(samples, count)
    twice = after["tokens_revoked_more_than_once"] - before["tokens_revoked_more_than_once"]
    return {"capacity": capacity, "rate": rate, "ratio": rate / capacity, "steady": steady,
            "steady_ratio": steady / capacity, "settled": result["settled"], "twice": twice}  # fmt: skip


def throughput(quick: bool) -> list[Figure]:
    """Issue 4 #1: orchestrator revokes/s with no rate limit vs the simulator's raw capacity, each
    run's ratio to the capacity measured in that run."""
    count = 2_000 if quick else 20_000
    revokers, tasks, width = int(os.environ.get("ORCH_BENCH_REVOKERS", "2")), 4, 16
    command = f"{COMMAND} {'--quick ' if quick else ''}throughput"
    runs = [_throughput_once(count, revokers, tasks, width) for _ in range(run_count(quick))]

    def column(key: str) -> list[float]:
        return [r[key] for r in runs]

    settled, twice = min(column("settled")), max(column("twice"))
    return [
        median_figure("throughput: simulator raw capacity (load generator, mean of before/after)",
                      column("capacity"), "revokes/s", command,
                      goal=f"baseline, {revokers * tasks * width} threads"),
        median_figure(f"throughput: orchestrator end to end, {count} tokens (command to last settled)",
                      column("rate"), "revokes/s", command,
                      goal=f"{revokers} revocation worker(s) x {tasks} tasks x {width} in flight; "
                      f"{settled:.0f} settled in the run that settled fewest"),
        median_figure("throughput: orchestrator / simulator capacity", column("ratio"), "ratio", command,
                      goal=">= 0.5 (within each run)", met=lambda ratio: ratio >= 0.5, digits=3),
        median_figure("throughput: steady revokes/s (first to last request, simulator counter)",
                      column("steady"), "revokes/s", command,
                      goal=f"ratio {statistics.median(column('steady_ratio')):.3f} (excludes planning)"),
        Figure("throughput: tokens revoked more than once", twice, "tokens",
               f"0 in each of {len(runs)} runs (the most)", twice == 0, command),
    ]  # fmt: skip


def _ratelimit_once(limit_per_s: int, count: int, timeout: float) -> dict[str, float]:
    """One run against a fresh simulator whose limit is ``limit_per_s`` a second over a minute."""
    samples: list[tuple[float, int]] = []
    with workdir() as tmp, simulator(tmp, rate_limit_per_minute=60 * limit_per_s) as (sim_url, _sim):
        inventory = jsonl_inventory(sim_url, count, tmp / "tokens.jsonl")
        with postgres_database() as store, redis_database() as broker:
            settings = _settings(sim_url, store, broker, str(inventory), tiktok_revoke_rate=str(limit_per_s),
                                 revocation_batch_size="500", relay_interval_seconds="0.2")  # fmt: skip

            def sample(at: float) -> None:
                samples.append((at, int(simulator_stats(sim_url)["revoke_requests"])))

            result = revoke_all(tmp, settings, expected=count, workers=(ALL_QUEUES,), timeout=timeout,
                                sample=sample)  # fmt: skip
        stats = simulator_stats(sim_url)
    attempts = int(stats["requests_by_endpoint"].get("revoke", 0))
    return {"sustained": steady_rate(samples, count), "settled": result["settled"], "attempts": attempts,
            "refused": int(stats["answered_429"])}  # fmt: skip


def ratelimit(quick: bool) -> list[Figure]:
    """Issue 4 #2: against a 1200/min simulator limit with ORCH_TIKTOK_REVOKE_RATE=20."""
    limit_per_s, seconds = 20, (30 if quick else 75)
    count = limit_per_s * seconds
    command = f"{COMMAND} {'--quick ' if quick else ''}ratelimit"
    runs = [_ratelimit_once(limit_per_s, count, seconds * 3) for _ in range(run_count(quick))]
    sustained = [r["sustained"] for r in runs]
    shares = [100 * r["refused"] / r["attempts"] if r["attempts"] else 0.0 for r in runs]
    refused, attempts = sum(r["refused"] for r in runs), sum(r["attempts"] for r in runs)
    settled = min(r["settled"] for r in runs)
    return [
        median_figure(f"rate limit: sustained revokes/s over {seconds} s (limit {limit_per_s}/s)", sustained,
                      "revokes/s", command, digits=2,
                      goal=f"settled {settled:.0f}/{count} in the run that settled fewest"),
        median_figure("rate limit: sustained / limit", [s / limit_per_s for s in sustained], "fraction",
                      command, goal=">= 0.90", met=lambda share: share >= 0.9, digits=3),
        median_figure("rate limit: requests answered 429", shares, "%", command,
                      goal=f"< 1 % ({refused} of {attempts} in all runs)", met=lambda share: share < 1,
                      digits=2),
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
    "`ORCH_BENCH_PROFILE=DIR` also records each worker with py-spy --gil (raw stacks). "
    f"{RUNS_NOTE} Each run has its own simulator, and its ratio is to the capacity measured in it.",
    "ratelimit": "Simulator limit 1200/min on revoke; `ORCH_TIKTOK_REVOKE_RATE=20`. Sustained rate = "
    "revoke requests the simulator accepted between the first and the last one-second sample with "
    "requests flowing; 429 share = answered 429 / every revoke request it saw, a fresh simulator each "
    f"run. {RUNS_NOTE}",
    "million": "Inventory: a PostgreSQL table seeded with COPY from the simulator. Two worker "
    "processes (4 tasks x 16 in flight each) and a scheduler on Redis + PostgreSQL. Peak RSS is "
    "VmHWM from /proc, read every second while the process lives. The run is bounded in time; when "
    "the bound ends it first, the figures say how many tokens were settled. One run, not three: it takes "
    "ten minutes, and its verdicts are bounds (every token settled, peak RSS), not speeds.",
    "switch": SWITCH_NOTES,
}

NOTES["up"] = UP_NOTES

BENCHMARKS: dict[str, Callable[[bool], list[Figure]]] = {
    "concurrent": concurrent,
    "up": up,
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
