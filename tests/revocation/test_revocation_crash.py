"""A worker SIGKILLed in the middle of a mass revocation: after a restart every token is
revoked and none is sent to TikTok twice (tokens in flight at the kill are settled by probe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.config import load_settings
from orchestrator.playbooks import flows, service
from orchestrator.revocation.models import LedgerRow
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.worker.runtime import Runtime
from tests.support.processes import Proc, orchestrator_env, wait_for, wait_schema
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN

pytestmark = pytest.mark.slow


def test_worker_killed_mid_revocation_resumes_and_sends_nothing_twice(tmp_path: Path) -> None:
    with TikTokSimulator(SimulatorOptions(latency_ms=5, seed=5)) as sim:
        records = [r.as_json() for r in sim.iter_issue_tokens(2000)]
        inventory = tmp_path / "tokens.jsonl"
        inventory.write_text("".join(json.dumps(r) + "\n" for r in records))
        settings = {
            "intake_token": INTAKE_TOKEN,
            "api_token": API_TOKEN,
            "tiktok_api_base": sim.base_url,
            "tiktok_client_key": sim.options.client_key,
            "tiktok_client_secret": sim.options.client_secret,
            "token_inventory": str(inventory),
            "tiktok_revoke_rate": "150",
            "redeliver_after_seconds": "2",
            "relay_interval_seconds": "0.2",
            "revocation_batch_size": "250",
        }
        env = orchestrator_env(tmp_path / "data", **settings)
        runtime = Runtime(load_settings(overrides={"data_dir": tmp_path / "data", **settings}))
        procs: list[Proc] = []

        def start(*args: str) -> Proc:
            procs.append(
                Proc(list(args), env=env, cwd=tmp_path, log=tmp_path / f"{args[0]}-{len(procs)}.log")
            )
            return procs[-1]

        def settled() -> int:
            with runtime.store.unit_of_work() as session:
                return int(
                    session.scalar(
                        select(func.count())
                        .select_from(LedgerRow)
                        .where(LedgerRow.status.in_(("revoked", "already_dead")))
                    )
                    or 0
                )

        try:
            start("scheduler")
            victim = start("worker")
            wait_schema(runtime.settings.store_url)
            run_id = flows.start_manual_run(
                runtime.transaction,
                playbook=runtime.playbooks["revoke-tokens"],
                given_inputs={"scope": "all"},
                incident_id=None,
                dry_run=False,
                actor="cli:tester",
            )
            wait_for(lambda: settled() >= 400, timeout=60, what="a fifth of the tokens revoked")
            victim.kill()
            at_kill = settled()
            start("worker")

            def finished() -> str | None:
                with runtime.store.unit_of_work() as session:
                    status = service.get_run(session, run_id=run_id).status
                return None if status == "running" else status

            assert (
                wait_for(finished, timeout=120, what="the revocation to finish after the restart")
                == "succeeded"
            )
            assert at_kill < 2000
            assert all(sim.is_grant_revoked(r["access_token"]) for r in records)
            assert max(sim.revoke_calls(r["access_token"]) for r in records) == 1
            assert settled() == 2000
        finally:
            for proc in procs:
                proc.stop()
            runtime.close()
