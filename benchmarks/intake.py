"""Intake benchmark: events/s and latency percentiles on loopback, and a storm of one compromise.

Run from the project root (PostgreSQL and Redis on 127.0.0.1 for the second setup)::

    .venv/bin/python benchmarks/intake.py [--seconds 10] [--threads 16] [--storm 10000]

For each setup it starts ``orchestrator up`` (API, worker, scheduler as real processes), then
measures, with a thread-pool load generator (httpx, keep-alive):

1. the baseline: ``GET /healthz`` round trips per second (store and broker ping), same threads;
2. sustained intake: ``POST /v1/events`` with distinct events, accepted per second, p50/p95/p99;
3. the storm: ``--storm`` alerts of one compromise (one fingerprint) as Alertmanager deliveries
   of ``--storm-group`` alerts each, all answered 202, then the one incident they open.

Speed is reported as figures and as a ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
INTAKE = "bench-intake-token-0001"
API = "bench-api-token-0002"
POSTGRES_ADMIN = os.environ.get(
    "ORCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("ORCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    name = f"orch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def orchestrator(**settings: str) -> Iterator[str]:
    """``orchestrator up`` on a free port with the given ``ORCH_*`` settings; yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env |= {"ORCH_DATA_DIR": tmp, "ORCH_INTAKE_TOKEN": INTAKE, "ORCH_API_TOKEN": API}
        env |= {"ORCH_LOG_LEVEL": "warning", "ORCH_LOG_FORMAT": "json"}
        env |= {f"ORCH_{k.upper()}": v for k, v in settings.items()}
        log = Path(tmp) / "orchestrator.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "up", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"orchestrator did not start; see {log}")
                    time.sleep(0.2)
                yield url
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)


LABELS = {"alertname": "TikTokTokenExfiltration", "severity": "critical"}
Request = Callable[[httpx.Client, int], int]


def load(url: str, request: Request, *, threads: int, seconds: float = 0, total: int = 0) -> dict[str, Any]:
    """Run ``request`` from ``threads`` keep-alive clients for ``seconds`` or ``total`` calls."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))
    lock = threading.Lock()
    started = time.perf_counter()

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    n = next(counter)
                if (total and n >= total) or (seconds and time.perf_counter() - started > seconds):
                    return
                t0 = time.perf_counter()
                status = request(client, n)
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "statuses": statuses,
    }


def healthz(client: httpx.Client, _n: int) -> int:
    return client.get("/healthz").status_code


def post_event(client: httpx.Client, n: int) -> int:
    event = {
        "title": f"Benchmark event {n}",
        "kind": "bench.event",
        "severity": "low",
        "dedup_key": f"bench-{n % 500}",
        "entities": {"hosts": [f"host-{n % 50}"]},
    }
    headers = {"Authorization": f"Bearer {INTAKE}"}
    return client.post("/v1/events", json=event, headers=headers).status_code


def storm_alert(client: httpx.Client, n: int) -> int:
    size = ARGS.storm_group
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
                "labels": {**LABELS, "replica": f"{n}-{i}"},
                "annotations": {"summary": "TikTok tokens read from the vault by an unknown host"},
                "startsAt": "2026-11-26T17:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": "storm-one-compromise",
            }
            for i in range(size)
        ],
    }
    headers = {"Authorization": f"Bearer {INTAKE}", "Content-Type": "application/json"}
    return client.post("/v1/events/alertmanager", content=json.dumps(body), headers=headers).status_code


def storm_incidents(url: str, timeout: float) -> tuple[list[tuple[str, int]], float]:
    """Wait until the storm's incident has counted every alert (or ``timeout``)."""
    started = time.perf_counter()
    found: list[tuple[str, int]] = []
    while time.perf_counter() - started < timeout:
        answer = httpx.get(
            f"{url}/v1/incidents?limit=1000", headers={"Authorization": f"Bearer {API}"}, timeout=10
        )
        found = [
            (i["dedup_key"], i["event_count"])
            for i in answer.json()["incidents"]
            if i["dedup_key"] == "alertmanager:storm-one-compromise"
        ]
        if found and found[0][1] >= ARGS.storm:
            break
        time.sleep(1)
    return found, time.perf_counter() - started


def run_setup(name: str, settings: dict[str, str]) -> dict[str, Any]:
    with orchestrator(**settings) as url:
        load(url, healthz, threads=4, total=200)  # warm up
        baseline = load(url, healthz, threads=ARGS.threads, seconds=ARGS.seconds / 2)
        intake = load(url, post_event, threads=ARGS.threads, seconds=ARGS.seconds)
    with orchestrator(**settings) as url:  # a fresh instance: the storm alone
        storm = load(url, storm_alert, threads=ARGS.threads, total=ARGS.storm // ARGS.storm_group)
        incidents, waited = storm_incidents(url, timeout=ARGS.wait)
    return {
        "setup": name,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "baseline_healthz": baseline,
        "intake": intake,
        "intake_vs_baseline": round(intake["per_second"] / baseline["per_second"], 2),
        "storm_alerts": ARGS.storm,
        "storm_deliveries": storm,
        "storm_alerts_per_second": round(ARGS.storm / storm["seconds"], 1),
        "storm_incidents": incidents,
        "storm_correlated_after_s": round(waited, 1),
    }


def main() -> None:
    results = [run_setup("embedded (SQLite + filesystem broker)", {})]
    if not ARGS.embedded_only:
        with postgres() as url:
            results.append(run_setup("Redis + PostgreSQL", {"database_url": url, "broker_url": REDIS}))
    for result in results:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="sustained-load duration")
    parser.add_argument("--threads", type=int, default=16, help="concurrent keep-alive clients")
    parser.add_argument("--storm", type=int, default=10_000, help="alerts in the storm")
    parser.add_argument("--storm-group", type=int, default=10, help="alerts per storm delivery")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for correlation")
    parser.add_argument("--embedded-only", action="store_true", help="skip Redis + PostgreSQL")
    ARGS = parser.parse_args()
    main()
