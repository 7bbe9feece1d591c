"""Following a revocation outlives the store going away: the step that follows it must not fail
(and fail its run) because PostgreSQL restarted while the batches went on."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from orchestrator.config import load_settings
from orchestrator.inventory.factory import opened_inventory
from orchestrator.revocation import flows
from tests.support.faults import TcpProxy
from tests.support.runtime import make_runtime
from tests.support.services import postgres_database

pytestmark = pytest.mark.services


def test_following_a_revocation_survives_the_store_going_away_and_back(tmp_path: Path) -> None:
    inventory = tmp_path / "tokens.jsonl"
    inventory.write_text(
        "".join(json.dumps({"open_id": f"u{n}", "access_token": f"act.{n:040d}"}) + "\n" for n in range(20))
    )
    with postgres_database() as url:
        where = urlsplit(url)
        with TcpProxy(where.hostname or "127.0.0.1", where.port or 5432) as proxy:
            settings = load_settings(
                overrides={
                    "data_dir": tmp_path / "data",
                    "database_url": proxy.url(url),
                    "token_inventory": str(inventory),
                }
            )
            runtime = make_runtime(settings)
            try:
                with opened_inventory(settings) as tokens:
                    revocation_id = flows.start(
                        runtime,
                        key="outage",
                        scope_text="all",
                        priority_open_ids=[],
                        incident_id=None,
                        run_id=None,
                        chain="system",
                        actor="test",
                        inventory=tokens,
                    )
                polls: list[int] = []

                def stop() -> bool:  # the store goes away at the 3rd poll and comes back at the 8th
                    polls.append(proxy.reset_by_cut + proxy.refused)
                    if len(polls) == 3:
                        proxy.cut()
                    if len(polls) == 8:
                        proxy.restore()
                    return len(polls) >= 12

                current = flows.follow(
                    runtime, revocation_id=revocation_id, chain="system", actor="test", stop=stop,
                    poll_seconds=0.05,
                )  # fmt: skip
            finally:
                runtime.close()
    assert len(polls) == 12 and proxy.reset_by_cut + proxy.refused > 0  # it really went away
    assert (current.planned, current.done) == (20, False)  # read again after the store came back
