"""A whole orchestrator against the TikTok simulator: JSONL inventory, HTTP app, worker and scheduler."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from orchestrator import clock
from orchestrator.config import load_settings
from orchestrator.events.schemas import CompromiseEvent, Entities
from orchestrator.incidents.models import IncidentRow
from orchestrator.intake import service as intake
from orchestrator.intake.app import create_app
from orchestrator.scheduler import run_scheduler
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN, make_runtime
from tests.support.server import serve_app

SECRET = "sim-client-secret-planted-proof-0077"


class Harness:
    """The running orchestrator, its simulator, the seeded tokens and the app's base URL."""

    def __init__(
        self, runtime: Runtime, sim: TikTokSimulator, tokens: list[dict[str, str]], base_url: str, data: Path
    ) -> None:
        self.runtime, self.sim, self.tokens, self.base_url, self.data_dir = (
            runtime,
            sim,
            tokens,
            base_url,
            data,
        )

    def fire_compromise(self, *, named: list[str] | None = None) -> str:
        """A critical compromise event; returns the incident id once it exists."""
        now = clock.utcnow()
        event = CompromiseEvent(
            source="generic",
            kind="credential.leak",
            severity="critical",  # type: ignore[arg-type]
            title="client secret in a public repo",
            observed_at=now,
            received_at=now,
            dedup_key="proof-leak-1",
            entities=Entities(open_ids=named or []),
        )
        intake.accept_events(self.runtime.store, [event], now=now)

        def opened() -> str | None:
            with self.runtime.store.unit_of_work() as session:
                row = session.query(IncidentRow).first()
                return row.id if row is not None else None

        return wait_for(opened, timeout=30, what="the incident to open")

    def entries(self, chain: str) -> list[TimelineEntryRow]:
        with self.runtime.store.unit_of_work() as session:
            rows = timeline.entries(session, chain)
            session.expunge_all()
            return list(rows)

    def wait_for_entry(self, chain: str, match: Callable[[TimelineEntryRow], bool], what: str) -> None:
        wait_for(lambda: any(match(e) for e in self.entries(chain)), timeout=45, what=what)


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """``request.param``: {"tokens": N, "sim": {...options}, "settings": {...overrides}}."""
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    wanted: dict[str, Any] = getattr(request, "param", {})
    options = {"client_secret": SECRET, "seed": 5, **wanted.get("sim", {})}
    with TikTokSimulator(SimulatorOptions(**options)) as sim:
        tokens = [r.as_json() for r in sim.iter_issue_tokens(wanted.get("tokens", 200))]
        inventory = tmp_path / "tokens.jsonl"
        inventory.write_text("".join(json.dumps(r) + "\n" for r in tokens))
        settings = load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "intake_token": INTAKE_TOKEN,
                "api_token": API_TOKEN,
                "tiktok_api_base": sim.base_url,
                "tiktok_client_key": "sim-client-key",
                "tiktok_client_secret": SECRET,
                "tiktok_revoke_rate": 0,
                "tiktok_userinfo_rate": 0,
                "token_inventory": str(inventory),
                "redeliver_after_seconds": 3,
                "relay_interval_seconds": 0.1,
                **wanted.get("settings", {}),
            }
        )
        runtime = make_runtime(settings)
        stop = threading.Event()
        scheduler = threading.Thread(target=run_scheduler, args=(runtime, stop), daemon=True)
        scheduler.start()
        with (
            serve_app(create_app(runtime)) as base_url,
            start_worker(
                runtime.celery, pool="threads", concurrency=6, perform_ping_check=False, loglevel="WARNING"
            ),
        ):
            sim.update_options(webhook_url=base_url + "/v1/tiktok/webhook")
            yield Harness(runtime, sim, tokens, base_url, tmp_path / "data")
        stop.set()
        scheduler.join(5)
        runtime.close()
