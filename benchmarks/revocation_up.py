"""Mass revocation on the default deployment (issue 25, item 3), a part of ``benchmarks.revocation``:
``revocation:up``.

``orchestrator up`` as a new user runs it (its own worker, scheduler and API, default concurrency),
on the embedded default and on Redis + PostgreSQL, with no rate limit: ``tokens revoke --scope all``
over a JSON-lines inventory, against the simulator's raw capacity measured in the same run by a plain
load generator just before and just after, in each run (``common.RUNS``).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from benchmarks.common import (
    RUNS_NOTE,
    Figure,
    Proc,
    free_port,
    log_tails,
    median_figure,
    orchestrator_env,
    postgres_database,
    redis_database,
    run_count,
    upgrade_store,
    wait_for,
    workdir,
)
from benchmarks.tiktok import (
    issue_tokens,
    jsonl_inventory,
    load_generator,
    simulator,
    simulator_stats,
    steady_rate,
)

__all__ = ["UP_NOTES", "up"]

COMMAND = ".venv/bin/python -m benchmarks revocation:up"
LOAD_THREADS, LOAD_PROCESSES = 128, 2
"""The raw capacity's generator: enough keep-alive threads, in a process per core, to saturate the
simulator (fewer left it idle between requests; one process was bound by its own CPU)."""
SETUPS = ("embedded", "redis")
LABELS = {"embedded": "embedded (SQLite + filesystem broker)", "redis": "Redis + PostgreSQL"}
GOAL = 0.5
SETTLED = "('revoked', 'already_dead', 'failed', 'grant_lost', 'gone')"


def _raw(sim_url: str, count: int) -> float:
    tokens = [record["access_token"] for record in issue_tokens(sim_url, count)]
    return load_generator(sim_url, tokens, LOAD_THREADS, LOAD_PROCESSES)


def _revoke(tmp: Path, sim_url: str, setup: str, count: int, **extra: str) -> dict[str, Any]:
    """``orchestrator up`` on ``setup``; revoke ``count`` tokens; revokes/s from the command to the
    last ledger row settled and while requests flowed, and tokens the simulator saw revoked twice."""
    inventory = jsonl_inventory(sim_url, count, tmp / "tokens.jsonl")
    port = free_port()
    settings = {"tiktok_api_base": sim_url, "token_inventory": str(inventory), "tiktok_revoke_rate": "0",
                **extra}  # fmt: skip
    with ExitStack() as stack:
        if setup == "embedded":
            store_url = f"sqlite:///{tmp / 'data' / 'orchestrator.sqlite'}"
        else:
            store_url = stack.enter_context(postgres_database())
            settings |= {"database_url": store_url, "broker_url": stack.enter_context(redis_database())}
        env = orchestrator_env(tmp / "data", **settings)
        upgrade_store(env, tmp / "upgrade.log")
        up = Proc.orchestrator("up", "--port", str(port), env=env, log=tmp / "up.log")
        store = create_engine(store_url)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=90,
                     what="every role of up ready")  # fmt: skip
            before = simulator_stats(sim_url)
            started, wall = time.monotonic(), time.time()
            Proc.orchestrator("tokens", "revoke", "--scope", "all", "--no-wait", env=env, log=tmp / "cli.log")

            samples: list[tuple[float, int]] = []  # (seconds, revoke requests the simulator saw)

            def settled() -> bool:
                asked = time.monotonic()
                sent = int(simulator_stats(sim_url)["revoke_requests"]) - int(before["revoke_requests"])
                samples.append(((asked + time.monotonic()) / 2, sent))  # read mid-call
                with store.connect() as conn:
                    query = f"SELECT count(*) FROM revocation_ledger WHERE status IN {SETTLED}"
                    return int(conn.execute(text(query)).scalar_one()) >= count

            wait_for(settled, timeout=600, what=f"{count} tokens settled", every=0.25)
            with store.connect() as conn:
                last = conn.execute(text("SELECT max(updated_at) FROM revocation_ledger")).scalar_one()
            if isinstance(last, str):  # SQLite's max() of a datetime column is its text
                last = datetime.fromisoformat(last)
            last_at = last.replace(tzinfo=last.tzinfo or UTC).timestamp()  # the store keeps UTC
            seconds = min(time.monotonic() - started, last_at - wall)
            after = simulator_stats(sim_url)
        except BaseException:
            log_tails(tmp)
            raise
        finally:
            up.stop()
            store.dispose()
    twice = after["tokens_revoked_more_than_once"] - before["tokens_revoked_more_than_once"]
    return {"rate": count / seconds, "steady": steady_rate(samples, count), "twice": twice}


def up(quick: bool) -> list[Figure]:
    """Issue 25 item 3: ``orchestrator up``'s revokes/s against the simulator's raw capacity."""
    count = 2_000 if quick else 10_000
    command = f"{COMMAND}{' --quick' if quick else ''}"
    figures: list[Figure] = []
    with workdir() as tmp, simulator(tmp) as (sim_url, _sim):
        for setup in SETUPS:
            results: list[dict[str, Any]] = []
            for run in range(run_count(quick)):
                folder = tmp / f"{setup}-{run}"
                folder.mkdir()
                before = _raw(sim_url, count)
                result = _revoke(folder, sim_url, setup, count)
                result["capacity"] = (before + _raw(sim_url, count)) / 2
                results.append(result)
            figures += _figures(setup, results, count, command)
    return figures


def _figures(setup: str, results: list[dict[str, Any]], count: int, command: str) -> list[Figure]:
    label = f"up ({LABELS[setup]}, {count} tokens, no rate limit)"
    twice = max(r["twice"] for r in results)
    return [
        median_figure(f"{label}: simulator raw capacity (load generator, mean of before/after)",
                      [r["capacity"] for r in results], "revokes/s", command,
                      goal=f"baseline, {LOAD_THREADS} threads in {LOAD_PROCESSES} processes"),
        median_figure(f"{label}: orchestrator, command to last settled", [r["rate"] for r in results],
                      "revokes/s", command),
        median_figure(f"{label}: orchestrator end to end / raw capacity",
                      [r["rate"] / r["capacity"] for r in results], "ratio", command,
                      goal="same run; planning and the CLI's start-up count", digits=3),
        median_figure(f"{label}: orchestrator sustained (first to last request) / raw capacity",
                      [r["steady"] / r["capacity"] for r in results], "ratio", command,
                      goal=f">= {GOAL} (same run)", met=lambda ratio: ratio >= GOAL, digits=3),
        Figure(f"{label}: tokens revoked more than once", twice, "tokens", "0 in each run (the worst)",
               twice == 0, command),
    ]  # fmt: skip


UP_NOTES = (
    "`orchestrator up` as a new user runs it: its own worker for events, playbooks and notifications, "
    "`up_revocation_workers` (1) for the revocation queue, the scheduler and the API, default "
    "concurrency and batch size, `ORCH_TIKTOK_REVOKE_RATE=0`; the embedded default (SQLite store, "
    "filesystem broker), then Redis as broker and PostgreSQL as store; inventory a JSON-lines file. "
    "End to end = tokens settled / time from starting `tokens revoke --scope all` (once /readyz "
    "answers; the CLI's own start-up counts) to the last ledger row's update; sustained = revoke "
    "requests the simulator counted between the first and the last sample (every 0.25 s) taken while "
    "they flowed, the issue's \"sustains\" and the verdict. The simulator's raw capacity is a plain "
    f"load generator ({LOAD_THREADS} urllib3 keep-alive threads in {LOAD_PROCESSES} processes) revoking "
    "fresh tokens just before and just after each run. The simulator, the orchestrator and the generator "
    f"share the machine's 2 cores, as they would not against TikTok. {RUNS_NOTE}"
)
