"""Several incidents at once (issue 21), a part of ``benchmarks.revocation``: ``revocation:concurrent``.

Ten critical incidents with distinct identities are posted over HTTP in the same second, each
running ``tiktok-compromise`` (scope all); the orchestrator revokes at ``RATE``/s and the simulator
refuses more than that over a minute. The baseline, measured in the same run, is one incident
over the same number of tokens. ``RUNS`` runs of each (``QUICK_RUNS`` with ``--quick``); the median, min
and max.
Every deployment: the embedded default (``orchestrator up``), and PostgreSQL with Redis or with
RabbitMQ as broker with the API, two workers and the scheduler as separate processes (with
RabbitMQ the rate limit lives in the store, not in Redis).
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from benchmarks.common import (
    INTAKE_TOKEN,
    Figure,
    Proc,
    free_port,
    log_tails,
    median_figure,
    orchestrator_env,
    postgres_database,
    rabbitmq_vhost,
    redis_database,
    run_count,
    spread,
    upgrade_store,
    wait_for,
    workdir,
)
from benchmarks.tiktok import jsonl_inventory, simulator, simulator_stats

__all__ = ["concurrent"]

COMMAND = ".venv/bin/python -m benchmarks revocation:concurrent"
RATE = 200  # revokes/s: the orchestrator's limit, and the simulator's over a minute
INCIDENTS = 10


def _post(base_url: str, n: int, run: int) -> None:
    def send(i: int) -> int:
        event = {"title": f"detector {i} fired", "kind": "credential.leak", "severity": "critical",
                 "dedup_key": f"run{run}-detector-{i}"}  # fmt: skip
        headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
        return httpx.post(f"{base_url}/v1/events", json=event, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=n) as pool:
        codes = list(pool.map(send, range(n)))
    if codes != [202] * n:
        raise RuntimeError(f"events refused: {codes}")


def _one_run(tmp: Path, sim_url: str, setup: str, incidents: int, tokens: int, run: int) -> dict[str, Any]:
    """Deploy, post ``incidents`` events, wait for every ``revoked_at``; the run's figures."""
    inventory = jsonl_inventory(sim_url, tokens, tmp / "tokens.jsonl")
    port = free_port()
    base = {"tiktok_api_base": sim_url, "token_inventory": str(inventory), "tiktok_revoke_rate": str(RATE),
            "redeliver_after_seconds": "5", "relay_interval_seconds": "0.2"}  # fmt: skip
    with ExitStack() as stack:
        if setup == "embedded":
            settings, store_url = base, f"sqlite:///{tmp / 'data' / 'orchestrator.sqlite'}"
        else:
            store_url = stack.enter_context(postgres_database())
            settings = {
                **base,
                "database_url": store_url,
                "broker_url": stack.enter_context(
                    redis_database() if setup == "postgresql+redis" else rabbitmq_vhost()
                ),
            }
        env = orchestrator_env(tmp / "data", **settings)
        upgrade_store(env, tmp / "upgrade.log")
        commands = [("up", "--port", str(port))] if setup == "embedded" else [
            ("serve", "--port", str(port)), ("worker",), ("worker",), ("scheduler",)]  # fmt: skip
        procs = [Proc.orchestrator(*c, env=env, log=tmp / f"{c[0]}-{i}.log") for i, c in enumerate(commands)]
        store = create_engine(store_url)
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, timeout=60,
                     what="the API")  # fmt: skip
            time.sleep(2.0)  # the workers consume
            before = simulator_stats(sim_url)

            def sample() -> None:
                while not stop.wait(0.25):
                    asked = time.monotonic()
                    count = simulator_stats(sim_url)["revoke_requests"] - before["revoke_requests"]
                    samples.append(((asked + time.monotonic()) / 2, int(count)))  # read mid-call

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            _post(url, incidents, run)

            def revoked() -> bool:
                with store.connect() as conn:
                    row = conn.execute(text("SELECT count(*), count(revoked_at) FROM incidents")).one()
                return bool(row[0] >= incidents and row[0] == row[1])

            wait_for(revoked, timeout=tokens / RATE * 4 + 60, what="every incident revoked", every=0.05)
            seconds = time.monotonic() - started
            stop.set()
            sampler.join()
            after = simulator_stats(sim_url)
        except BaseException:
            log_tails(tmp)
            raise
        finally:
            stop.set()
            for proc in procs:
                proc.stop()
            store.dispose()
    requests = after["revoke_requests"] - before["revoke_requests"]
    moving = [(t, n) for t, n in samples if 0 < n < tokens]
    steady = (moving[-1][1] - moving[0][1]) / (moving[-1][0] - moving[0][0]) if len(moving) > 1 else 0.0
    windows = zip(samples, samples[8:], strict=False)  # about two seconds each
    peak = max(((n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in windows), default=0.0)
    refused = after["answered_429"] - before["answered_429"]
    return {
        "seconds": seconds,
        "repeats": requests - tokens,
        "steady": steady,
        "peak": peak,
        "refused": refused,
    }


def concurrent(quick: bool) -> list[Figure]:
    """Issue 21: ten incidents at once against one, on both deployments."""
    tokens, runs = (1_000 if quick else 2_000), run_count(quick)
    command = f"{COMMAND}{' --quick' if quick else ''}"
    figures: list[Figure] = []
    with workdir() as tmp, simulator(tmp, rate_limit_per_minute=RATE * 60) as (sim_url, _sim):
        for setup in ("embedded", "postgresql+redis", "postgresql+rabbitmq"):
            results: dict[int, list[dict[str, Any]]] = {1: [], INCIDENTS: []}
            for run in range(runs):
                for n in (1, INCIDENTS):  # interleaved, so drift in the machine's speed hits both
                    folder = tmp / f"{setup}-{n}-{run}"
                    folder.mkdir()
                    results[n].append(_one_run(folder, sim_url, setup, n, tokens, run))
            figures += _figures(setup, results, tokens, command)
    return figures


def _figures(setup: str, results: dict[int, list[dict[str, Any]]], tokens: int, command: str) -> list[Figure]:
    ideal = tokens / RATE
    one = [r["seconds"] for r in results[1]]
    many = [r["seconds"] for r in results[INCIDENTS]]
    ratios = [m / o for m, o in zip(many, one, strict=True)]
    shares = [r["steady"] / RATE for r in results[INCIDENTS]]
    peaks = [r["peak"] / RATE for r in results[INCIDENTS]]
    repeats = max(r["repeats"] for r in results[INCIDENTS])
    refused = sum(r["refused"] for r in results[INCIDENTS])
    label = f"concurrent ({setup}, {INCIDENTS} incidents, {tokens} tokens, {RATE}/s)"
    bound = 1.2 * ideal + 5
    return [
        median_figure(f"{label}: seconds to every revoked_at", many, "s", command, digits=2,
                      goal=f"<= {bound:g} (ideal {ideal:g})", met=lambda seconds: seconds <= bound),
        median_figure(f"{label}: seconds / one incident's (baseline, same run)", ratios, "ratio", command,
                      goal=f"near 1; one incident {statistics.median(one):.2f} s", digits=3),
        Figure(f"{label}: repeat revokes", repeats, "requests", "0", repeats == 0, command),
        median_figure(f"{label}: sustained share of the limit", shares, "fraction", command, goal=">= 0.9",
                      met=lambda share: share >= 0.9, digits=3),
        Figure(f"{label}: busiest two seconds / limit", round(max(peaks), 3), "fraction",
               f"<= 1.05 (simulator's counter read every 0.25 s); {spread(peaks, 3)}", max(peaks) <= 1.05,
               command),
        Figure(f"{label}: requests the simulator refused (429, its limit {RATE * 60}/min sliding)", refused,
               "requests", "0", refused == 0, command),
    ]  # fmt: skip
