"""Two real worker processes on one Redis and one PostgreSQL keep one revoke rate between them."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy import func, select

from orchestrator.config import load_settings
from orchestrator.playbooks import flows, service
from orchestrator.revocation.models import LedgerRow
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.support.processes import Proc, orchestrator_env, wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.services import REDIS_URL, postgres_database, require

pytestmark = [pytest.mark.slow, pytest.mark.services]

TOKENS = 200
RATE = 20.0
# A Redis database of its own: neither this test's queues nor its limiter meet other tests'.
BROKER_URL = urlsplit(REDIS_URL)._replace(path="/14").geturl()


def revoke_counts(sim: TikTokSimulator, until: float) -> list[tuple[float, int]]:
    """(monotonic time, revoke requests the simulator has answered) every 50 ms until done."""
    samples: list[tuple[float, int]] = []
    while time.monotonic() < until:
        count = int(sim.stats().get("revoke_requests", 0))
        samples.append((time.monotonic(), count))
        if count >= TOKENS:
            return samples
        time.sleep(0.05)
    raise AssertionError(f"only {samples[-1][1]} of {TOKENS} revoke requests arrived in time")


def worst_excess(samples: list[tuple[float, int]], seconds: float) -> float:
    """Over every stretch of at least ``seconds``: the most requests beyond RATE x its length."""
    worst = 0.0
    for start_time, start_count in samples:
        for end_time, end_count in samples:
            if end_time - start_time >= seconds:
                worst = max(worst, end_count - start_count - RATE * (end_time - start_time))
                break
    return worst


def batches_taken(log: Path) -> int:
    """How many revocation batch tasks a worker finished, from its own log (Celery's lines)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return len(re.findall(r"Task orchestrator\.revoke_batch\[[0-9a-f-]+\] succeeded", text))


def test_two_workers_share_one_revoke_rate(tmp_path: Path) -> None:
    require(BROKER_URL, "Redis")
    redis.Redis.from_url(BROKER_URL).flushdb()
    with postgres_database() as database_url, TikTokSimulator(SimulatorOptions(seed=13)) as sim:
        records = [r.as_json() for r in sim.iter_issue_tokens(TOKENS)]
        inventory = tmp_path / "tokens.jsonl"
        inventory.write_text("".join(json.dumps(r) + "\n" for r in records))
        settings = {
            "database_url": database_url,
            "broker_url": BROKER_URL,
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "tiktok_api_base": sim.base_url,
            "tiktok_client_key": sim.options.client_key,
            "tiktok_client_secret": sim.options.client_secret,
            "token_inventory": str(inventory),
            "tiktok_revoke_rate": str(RATE),
            "revocation_batch_size": "20",
            "revocation_concurrency": "8",
            "worker_concurrency": "4",
            "redeliver_after_seconds": "3",
            "relay_interval_seconds": "0.2",
        }
        runtime = make_runtime(load_settings(overrides={"data_dir": tmp_path / "data", **settings}))
        env = orchestrator_env(tmp_path / "data", **settings)
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        procs = [Proc(["worker"], env=env, cwd=tmp_path, log=log) for log in logs]
        procs.append(Proc(["scheduler"], env=env, cwd=tmp_path, log=tmp_path / "scheduler.log"))
        try:
            wait_for(
                lambda: all("ready" in log.read_text(errors="replace") for log in logs),
                timeout=60,
                what="both workers to be ready",
            )
            run_id = flows.start_manual_run(
                runtime.transaction,
                playbook=runtime.playbooks["revoke-tokens"],
                given_inputs={"scope": "all"},
                incident_id=None,
                dry_run=False,
                actor="cli:tester",
            )
            samples = revoke_counts(sim, until=time.monotonic() + 90)  # slow only on a loaded machine

            def finished() -> str | None:
                with runtime.store.unit_of_work() as session:
                    status = service.get_run(session, run_id=run_id).status
                return None if status == "running" else status

            assert wait_for(finished, timeout=60, what="the revocation run to finish") == "succeeded"
            with runtime.store.unit_of_work() as session:
                revoked = session.scalar(
                    select(func.count()).select_from(LedgerRow).where(LedgerRow.status == "revoked")
                )
        finally:
            for proc in procs:
                proc.stop()
            runtime.close()

    first, at_first = next((t, count) for t, count in samples if count > 0)
    last, at_last = samples[-1]
    overall = (at_last - at_first) / (last - first)
    assert revoked == TOKENS
    assert sim.stats()["tokens_revoked_more_than_once"] == 0
    # Never faster than RATE across both processes, over any stretch (evenly spaced: at most
    # one request of slack); slower only when the machine is loaded, which is no failure.
    assert overall <= RATE * 1.05, f"{overall:.1f} requests/s overall"
    # Requests leave evenly spaced; arrivals jitter with the machine's load, so allow a few.
    assert worst_excess(samples, 3.0) <= 5, "a burst above the shared rate"
    taken = [batches_taken(log) for log in logs]
    assert all(count > 0 for count in taken), f"batches per worker: {taken}"
