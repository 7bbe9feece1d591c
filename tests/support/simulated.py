"""The whole orchestrator against the TikTok simulator: a JSON-lines inventory of simulated tokens,
the shipped playbooks, an in-process worker and scheduler, and the HTTP app when asked."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from orchestrator import clock
from orchestrator.api.app import create_app
from orchestrator.events import accept as intake
from orchestrator.events.schemas import CompromiseEvent, Entities
from orchestrator.incidents.models import IncidentRow
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.timeline.models import TimelineEntryRow
from tests.support.engine import Engine, running_engine
from tests.support.processes import wait_for
from tests.support.server import serve_app

__all__ = ["Simulated", "simulated"]


class Simulated(Engine):
    """The engine, its simulator, the seeded tokens, and the app's base URL (None when not served)."""

    def __init__(
        self,
        engine: Engine,
        sim: TikTokSimulator,
        tokens: list[dict[str, str]],
        base_url: str | None,
        data: Path,
    ) -> None:
        super().__init__(engine.runtime)
        self.sim, self.tokens, self.base_url, self.data_dir = sim, tokens, base_url, data

    def fire_compromise(self, *, named: list[str] | None = None, dedup_key: str = "leak-1") -> str:
        """A critical compromise event; returns the incident id once it exists."""
        now = clock.utcnow()
        event = CompromiseEvent(
            source="generic",
            kind="credential.leak",
            severity="critical",
            title="client secret in a public repo",
            observed_at=now,
            received_at=now,
            dedup_key=dedup_key,
            entities=Entities(open_ids=named or []),
        )
        intake.accept_events(self.runtime.store, [event], now=now)

        def opened() -> str | None:
            with self.runtime.store.unit_of_work() as session:
                row = session.query(IncidentRow).first()
                return row.id if row is not None else None

        return wait_for(opened, timeout=30, what="the incident to open")

    def run_playbook(self, name: str, **inputs: Any) -> dict[str, Any]:
        """Start a manual playbook and wait (up to 2 minutes) for it to finish."""
        run_id = self.start(name, **inputs)
        run = self.finished(run_id, timeout=120)
        return {"id": run_id, "status": run["status"], "steps": run["detail"]}

    def wait_for_entry(self, chain: str, match: Callable[[TimelineEntryRow], bool], what: str) -> None:
        wait_for(lambda: any(match(e) for e in self.entries(chain)), timeout=45, what=what)


@contextmanager
def simulated(
    tmp_path: Path,
    *,
    secret: str,
    tokens: int = 200,
    sim: dict[str, Any] | None = None,
    serve: bool = False,
    **overrides: Any,
) -> Iterator[Simulated]:
    """The simulator (client secret ``secret``, options ``sim``) with ``tokens`` issued tokens in the
    inventory, and the orchestrator pointed at it with settings ``overrides``."""
    with ExitStack() as stack:
        simulator = stack.enter_context(
            TikTokSimulator(SimulatorOptions(client_secret=secret, **(sim or {})))
        )
        issued = [r.as_json() for r in simulator.iter_issue_tokens(tokens)]
        inventory = tmp_path / "tokens.jsonl"
        inventory.write_text("".join(json.dumps(r) + "\n" for r in issued))
        engine = stack.enter_context(
            running_engine(
                tmp_path,
                None,
                concurrency=6,
                **{
                    "tiktok_api_base": simulator.base_url,
                    "tiktok_client_key": simulator.options.client_key,
                    "tiktok_client_secret": secret,
                    "tiktok_revoke_rate": 0,
                    "tiktok_userinfo_rate": 0,
                    "token_inventory": str(inventory),
                    "redeliver_after_seconds": 3,
                    **overrides,
                },
            )
        )
        base_url = None
        if serve:
            base_url = stack.enter_context(serve_app(create_app(engine.runtime)))
            simulator.update_options(webhook_url=base_url + "/v1/tiktok/webhook")
        yield Simulated(engine, simulator, issued, base_url, tmp_path / "data")
