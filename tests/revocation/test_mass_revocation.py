"""Mass revocation against the TikTok simulator on the real broker: every token revoked once,
through injected 429s and 5xx, resumable, with a tally and no token or secret on the timeline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from orchestrator.config import load_settings
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks import flows, service
from orchestrator.scheduler import run_scheduler
from orchestrator.switch import service as switch
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.timeline import service as timeline
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime

SECRET = "sim-client-secret-planted-0042"


def write_inventory(path: Path, sim: TikTokSimulator, n: int) -> list[dict[str, str]]:
    records = [r.as_json() for r in sim.iter_issue_tokens(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


class Harness:
    def __init__(self, runtime: Runtime, sim: TikTokSimulator, tokens: list[dict[str, str]]) -> None:
        self.runtime, self.sim, self.tokens = runtime, sim, tokens

    def run_playbook(self, name: str, **inputs: Any) -> dict[str, Any]:
        run_id = flows.start_manual_run(
            self.runtime.transaction,
            playbook=self.runtime.playbooks[name],
            given_inputs=inputs,
            incident_id=None,
            dry_run=False,
            actor="cli:tester",
        )

        def finished() -> dict[str, Any] | None:
            with self.runtime.store.unit_of_work() as session:
                run = service.get_run(session, run_id=run_id)
                steps = {k: v.as_dict() for k, v in service.step_rows(session, run_id=run_id).items()}
            return {"id": run_id, "status": run.status, "steps": steps} if run.status != "running" else None

        return wait_for(finished, timeout=120, what=f"{name} to finish")


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    size = getattr(request, "param", 500)
    with TikTokSimulator(
        SimulatorOptions(
            client_secret=SECRET, inject_429_rate=0.05, error_rate=0.05, retry_after_seconds=0.05, seed=3
        )
    ) as sim:
        tokens = write_inventory(tmp_path / "tokens.jsonl", sim, size)
        settings = load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "intake_token": INTAKE_TOKEN,
                "api_token": API_TOKEN,
                "tiktok_api_base": sim.base_url,
                "tiktok_client_key": "sim-client-key",
                "tiktok_client_secret": SECRET,
                "tiktok_revoke_rate": 0,
                "token_inventory": str(tmp_path / "tokens.jsonl"),
                "redeliver_after_seconds": 3,
                "relay_interval_seconds": 0.1,
                "revocation_batch_size": 1000,
            }
        )
        runtime = make_runtime(settings)
        stop = threading.Event()
        scheduler = threading.Thread(target=run_scheduler, args=(runtime, stop), daemon=True)
        scheduler.start()
        with start_worker(
            runtime.celery, pool="threads", concurrency=6, perform_ping_check=False, loglevel="WARNING"
        ):
            yield Harness(runtime, sim, tokens)
        stop.set()
        scheduler.join(5)
        runtime.close()


@pytest.mark.parametrize("harness", [10_000], indirect=True)
def test_ten_thousand_tokens_revoked_once_through_429s_and_5xx(harness: Harness) -> None:
    result = harness.run_playbook("revoke-tokens", scope="all")
    assert result["status"] == "succeeded", result["steps"]["revoke"]["error"]
    output = result["steps"]["revoke"]["output"]
    assert (output["total"], output["revoked"], output["already_dead"], output["failed"]) == (
        10_000,
        10_000,
        0,
        0,
    )
    stats = harness.sim.stats()
    assert stats["answered_429"] > 0 and stats["answered_5xx"] > 0
    assert stats["tokens_revoked_more_than_once"] == 0
    assert all(harness.sim.is_grant_revoked(t["access_token"]) for t in harness.tokens)
    with harness.runtime.store.unit_of_work() as session:
        entries = timeline.entries(session, result["id"])
    kinds = [e.kind for e in entries]
    assert kinds.count("revocation.started") == 1 and kinds.count("revocation.finished") == 1
    dump = json.dumps([e.as_dict() for e in entries])
    assert SECRET not in dump
    assert not any(t["access_token"] in dump or t["refresh_token"] in dump for t in harness.tokens[:500])


def test_rerunning_the_revocation_sends_nothing_again(harness: Harness) -> None:
    harness.run_playbook(
        "revoke-tokens", scope="open_id:" + ",".join(t["open_id"] for t in harness.tokens[:50])
    )
    before = harness.sim.stats()["revoke_requests"]
    result = harness.run_playbook(
        "revoke-tokens", scope="open_id:" + ",".join(t["open_id"] for t in harness.tokens[:50])
    )
    # a second run is a new revocation: the ledger knows these grants are dead; nothing is sent
    assert result["steps"]["revoke"]["output"]["already_dead"] == 50
    assert harness.sim.stats()["revoke_requests"] == before


def test_compromise_playbook_engages_switch_then_revokes_named_users_first(harness: Harness) -> None:
    from orchestrator import clock
    from orchestrator.events.schemas import CompromiseEvent, Entities
    from orchestrator.intake import service as intake

    named = harness.tokens[-1]["open_id"]
    now = clock.utcnow()
    event = CompromiseEvent(
        source="generic",
        kind="credential.leak",
        severity="critical",  # type: ignore[arg-type]
        title="client secret in a public repo",
        observed_at=now,
        received_at=now,
        dedup_key="leak-1",
        entities=Entities(open_ids=[named]),
    )
    intake.accept_events(harness.runtime.store, [event], now=now)

    def revoked_incident() -> IncidentRow | None:
        with harness.runtime.store.unit_of_work() as session:
            rows = session.query(IncidentRow).all()
            return rows[0] if rows and rows[0].revoked_at is not None else None

    incident = wait_for(revoked_incident, timeout=120, what="the incident's revocation to finish")
    assert incident.disconnected_at is not None and incident.disconnected_at <= incident.revoked_at
    with harness.runtime.store.unit_of_work() as session:
        assert switch.status(session).engaged
        entries = timeline.entries(session, incident.id)
    kinds = [e.kind for e in entries]
    assert (
        kinds.index("switch.engaged") < kinds.index("revocation.started") < kinds.index("revocation.finished")
    )
    finished = next(e for e in entries if e.kind == "revocation.finished")
    assert finished.data["revoked"] == len(harness.tokens)
