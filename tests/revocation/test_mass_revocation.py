"""Mass revocation against the TikTok simulator on the real broker: every token revoked once,
through injected 429s and 5xx, resumable, with a tally and no token or secret on the timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from orchestrator.incidents.models import IncidentRow
from orchestrator.revocation.models import LedgerRow
from orchestrator.switch import service as switch
from orchestrator.timeline import service as timeline
from tests.support.processes import wait_for
from tests.support.services import postgres_database
from tests.support.simulated import Simulated, simulated

SECRET = "sim-client-secret-planted-0042"


Harness = Simulated


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    size = getattr(request, "param", 500)
    with simulated(
        tmp_path,
        secret=SECRET,
        tokens=size,
        sim={"inject_429_rate": 0.05, "error_rate": 0.05, "retry_after_seconds": 0.05, "seed": 3},
        revocation_batch_size=1000,
    ) as running:
        yield running


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
    # a second run is a new revocation: the one ledger knows these grants are dead; nothing is sent
    output = result["steps"]["revoke"]["output"]
    assert (output["revoked"], output["requests"], sum(output["revoked_by"].values())) == (50, 0, 50)
    assert harness.sim.stats()["revoke_requests"] == before


def test_compromise_playbook_engages_switch_then_revokes_named_users_first(harness: Harness) -> None:
    named = harness.tokens[-1]["open_id"]
    harness.fire_compromise(named=[named])

    def revoked_incident() -> IncidentRow | None:
        with harness.runtime.store.unit_of_work() as session:
            rows = session.query(IncidentRow).all()
            return rows[0] if rows and rows[0].revoked_at is not None else None

    incident = wait_for(revoked_incident, timeout=120, what="the incident's revocation to finish")
    assert incident.disconnected_at is not None and incident.revoked_at is not None
    assert incident.disconnected_at <= incident.revoked_at
    with harness.runtime.store.unit_of_work() as session:
        assert switch.status(session).engaged
        entries = timeline.entries(session, incident.id)
    kinds = [e.kind for e in entries]
    assert (
        kinds.index("switch.engaged") < kinds.index("revocation.started") < kinds.index("revocation.finished")
    )
    finished = next(e for e in entries if e.kind == "revocation.finished")
    assert finished.data["revoked"] == len(harness.tokens)


def test_on_postgresql_every_outcome_is_recorded_through_429s_and_5xx(tmp_path: Path) -> None:
    """PostgreSQL records a group of outcomes in one statement over arrays: revoked and retried
    (pending again, then revoked) tokens alike end revoked once, with their log ids; planning
    analyses the growing ledger so its lookups keep their index."""
    with (
        postgres_database() as url,
        simulated(
            tmp_path,
            secret=SECRET,
            tokens=2_000,
            sim={"inject_429_rate": 0.05, "error_rate": 0.05, "retry_after_seconds": 0.05, "seed": 5},
            revocation_batch_size=500,
            database_url=url,
        ) as harness,
    ):
        result = harness.run_playbook("revoke-tokens", scope="all")
        assert result["status"] == "succeeded", result["steps"]["revoke"]["error"]
        assert result["steps"]["revoke"]["output"]["revoked"] == 2_000
        stats = harness.sim.stats()
        assert stats["answered_429"] > 0 and stats["answered_5xx"] > 0
        assert stats["tokens_revoked_more_than_once"] == 0
        with harness.runtime.store.unit_of_work() as session:
            rows = session.execute(select(LedgerRow.status, LedgerRow.claimed_by, LedgerRow.log_id)).all()
        assert {status for status, _, _ in rows} == {"revoked"}
        assert all(holder and log_id for _, holder, log_id in rows)
        with harness.runtime.store.unit_of_work() as session:  # planning kept the statistics fresh
            query = "SELECT reltuples FROM pg_class WHERE relname = 'revocation_ledger'"
            estimate = session.scalar(text(query))
        assert estimate is not None and estimate >= 1_000
