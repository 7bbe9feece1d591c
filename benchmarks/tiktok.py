"""The TikTok simulator in benchmarks: run it in its own process, read its counters, draw fresh
authorisations from it into an inventory, and revoke straight at it for its raw capacity."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import urllib3

from benchmarks.common import SIM_CLIENT_KEY, SIM_CLIENT_SECRET, Proc, free_port, orchestrator_env, wait_for

__all__ = [
    "issue_tokens",
    "jsonl_inventory",
    "load_generator",
    "simulator",
    "simulator_stats",
    "sql_inventory",
    "steady_rate",
]


@contextmanager
def simulator(workdir: Path, *, rate_limit_per_minute: int = 0) -> Iterator[tuple[str, Proc]]:
    """``orchestrator simulate tiktok`` in its own process on a free port; yields (base URL, process)."""
    port = free_port()
    args = ["simulate", "tiktok", "--port", str(port), "--rate-limit", str(rate_limit_per_minute)]
    proc = Proc.orchestrator(*args, env=orchestrator_env(workdir), log=workdir / f"simulator-{port}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{url}/_simulator/stats", timeout=2).status_code == 200,
            timeout=30,
            what="the TikTok simulator",
        )
        yield url, proc
    finally:
        proc.stop()


def simulator_stats(sim_url: str) -> dict[str, Any]:
    """The simulator's counters (``GET /_simulator/stats``)."""
    return dict(httpx.get(f"{sim_url}/_simulator/stats", timeout=10).json())


def issue_tokens(sim_url: str, count: int) -> Iterator[dict[str, str]]:
    """Fresh authorisations from the simulator, streamed as dicts."""
    body = {"count": count, "open_id_prefix": f"b{time.monotonic_ns()}-"}
    with httpx.stream("POST", f"{sim_url}/_simulator/tokens", json=body, timeout=600) as answer:
        for line in answer.iter_lines():
            if line.strip():
                yield json.loads(line)


def jsonl_inventory(sim_url: str, count: int, path: Path) -> Path:
    """A JSON-lines token inventory of ``count`` fresh authorisations at ``path``."""
    with path.open("w", encoding="utf-8") as out:
        for record in issue_tokens(sim_url, count):
            out.write(json.dumps(record) + "\n")
    return path


def sql_inventory(sim_url: str, count: int, url: str) -> str:
    """Seed ``tiktok_tokens`` in the database at ``url`` with COPY; return the inventory URL."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE tiktok_tokens (open_id text PRIMARY KEY, access_token text NOT NULL,"
            " refresh_token text, expires_at timestamptz, labels jsonb)"
        )
        with conn.cursor().copy(
            "COPY tiktok_tokens (open_id, access_token, refresh_token, expires_at, labels) FROM STDIN"
        ) as copy:
            for r in issue_tokens(sim_url, count):
                copy.write_row((r["open_id"], r["access_token"], r["refresh_token"], r["expires_at"], "{}"))
    return dsn


def _generate(sim_url: str, tokens: list[str], threads: int, ready: Any, results: Any) -> None:
    """One load-generator process: ``threads`` keep-alive threads revoke ``tokens``; reports its span."""
    queue = iter(tokens)
    lock = threading.Lock()
    pool = urllib3.PoolManager(maxsize=threads, retries=False)
    form = "application/x-www-form-urlencoded"

    def work() -> None:
        while True:
            with lock:
                token = next(queue, None)
            if token is None:
                return
            fields = {"client_key": SIM_CLIENT_KEY, "client_secret": SIM_CLIENT_SECRET, "token": token}
            body = urlencode(fields).encode()
            pool.request("POST", f"{sim_url}/v2/oauth/revoke/", body=body, headers={"Content-Type": form})

    workers = [threading.Thread(target=work) for _ in range(threads)]
    ready.wait()  # every process starts together: their spans overlap
    started = time.time()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    results.put((started, time.time()))
    pool.clear()


def load_generator(sim_url: str, tokens: list[str], threads: int, processes: int = 1) -> float:
    """Revoke ``tokens`` straight at the simulator from ``processes`` processes of keep-alive
    threads (``threads`` in all); requests/s from the first start to the last finish.

    It uses urllib3, as the orchestrator's TikTok client does: httpx costs about five times
    its CPU per request, so an httpx generator measured its own limit, not the simulator's.
    Give it as many processes as the orchestrator has revocation workers: one Python process
    is bound by its own CPU before the simulator is.
    """
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(processes), context.Queue()
    children = [
        context.Process(
            target=_generate, args=(sim_url, tokens[n::processes], threads // processes, ready, results)
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()
    spans: list[tuple[float, float]] = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    return len(tokens) / (max(end for _, end in spans) - min(start for start, _ in spans))


def steady_rate(samples: list[tuple[float, int]], count: int) -> float:
    """Requests/s between the first and the last sample taken while requests were flowing."""
    moving = [(t, n) for t, n in samples if 0 < n < count]
    if len(moving) < 2:
        return 0.0
    (t0, n0), (t1, n1) = moving[0], moving[-1]
    return (n1 - n0) / (t1 - t0)
