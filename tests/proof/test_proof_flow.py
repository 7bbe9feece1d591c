"""A full incident on the real broker: event -> switch -> census -> revoke -> verify -> census, with
TikTok's receipts arriving over HTTP; a token that survives its revocation is found, revoked again and
escalated; no token or client secret reaches the timeline, the reports or the logs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest

from orchestrator import clock
from orchestrator.chatops import card_sync, cards
from orchestrator.proof import census as census_flows
from orchestrator.proof.models import VerificationRow
from orchestrator.timeline import kinds
from orchestrator.timeline.compliance import assess, render_compliance_markdown
from orchestrator.timeline.figures import load_record
from orchestrator.timeline.postmortem import render_postmortem
from tests.proof.conftest import SECRET, Harness
from tests.support.processes import orchestrator_env, wait_for


def census_entries(harness: Harness, incident_id: str) -> list[dict[str, Any]]:
    return [e.data for e in harness.entries(incident_id) if e.kind == kinds.CENSUS]


def wait_for_census(harness: Harness, incident_id: str, phase: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((d for d in census_entries(harness, incident_id) if d["phase"] == phase), None)

    return wait_for(found, timeout=45, what=f"the census after {phase}")


@pytest.mark.parametrize("harness", [{"tokens": 200}], indirect=True)
def test_census_counts_through_a_full_incident(harness: Harness, log_stream: io.StringIO) -> None:
    incident_id = harness.fire_compromise(named=[harness.tokens[7]["open_id"]])
    awareness = wait_for_census(harness, incident_id, "awareness")
    after = wait_for_census(harness, incident_id, "verify")
    # taken alongside the revocation (it must not delay it): the revocation may already be under way
    assert (awareness["connected"], awareness["exposed_at_awareness"]) == (200, 200)
    assert awareness["revoked"] + awareness["still_exposed"] <= 200
    verified = next(e.data for e in harness.entries(incident_id) if e.kind == kinds.REVOCATION_VERIFIED)
    assert (verified["sample_size"], verified["dead"], verified["alive"], verified["escalate"]) == (
        10,
        10,
        0,
        False,
    )
    assert all(len(r["fingerprint"]) == 64 for r in verified["results"])
    assert after["revoked"] == 200 and after["failed"] == 0 and after["still_live"] == 0
    assert after["still_exposed"] == 0 and after["exposed_at_awareness"] == 200
    assert after["confirmed_dead"] >= 10  # the probed sample, plus receipts that arrived before it

    # TikTok's receipts (reason 5) arrive for every grant: all 200 are then confirmed by TikTok itself
    def delivered() -> bool:
        stats = harness.sim.stats()
        return bool(stats["webhooks_sent"] + stats["webhooks_failed"] == stats["revoked_grants"] == 200)

    wait_for(delivered, timeout=45, what="200 receipts")
    assert harness.sim.stats()["webhooks_failed"] == 0
    with harness.runtime.store.unit_of_work() as session:
        now = census_flows.count_census(session, chain=incident_id, phase="receipts", connected=200)
    assert (now.counts["confirmed_dead"], now.still_exposed, now.exposed_at_awareness) == (200, 0, 200)

    with harness.runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=incident_id)
        postmortem = render_postmortem(record, generated_at=clock.utcnow())
        report = assess(record, disconnect_target_minutes=60, report_target_minutes=1440, now=clock.utcnow())
    assert "exposed at awareness: 200; still exposed now: 0" in postmortem
    assert report.exposure == "exposed at awareness: 200; still exposed now: 0"
    assert "- Exposure census: exposed at awareness: 200; still exposed now: 0" in render_compliance_markdown(
        report
    )
    apps = harness.runtime.settings.app_names
    with harness.runtime.store.unit_of_work() as session:
        card = str(cards.incident_card(card_sync.card_state(session, incident_id, app_names=apps))[1])
    assert "exposed at awareness: 200; still exposed now: 0" in card and "Escalated" not in card

    shown = subprocess.run(
        [sys.executable, "-m", "orchestrator", "incident", "show", incident_id],
        capture_output=True,
        text=True,
        env=orchestrator_env(harness.data_dir),
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "census (verify): exposed at awareness: 200; still exposed now: 0" in shown.stdout

    dump = (
        json.dumps([e.as_dict() for e in harness.entries(incident_id)]) + postmortem + log_stream.getvalue()
    )
    assert SECRET not in dump
    assert not any(t["access_token"] in dump or t["refresh_token"] in dump for t in harness.tokens)


@pytest.mark.parametrize(
    "harness",
    [{"tokens": 120, "sim": {"revoke_lie_rate": 0.1}, "settings": {"verify_sample_percent": 100.0}}],
    indirect=True,
)
def test_a_token_that_survives_revocation_is_found_revoked_again_and_escalated(
    harness: Harness, log_stream: io.StringIO
) -> None:
    incident_id = harness.fire_compromise()
    after = wait_for_census(harness, incident_id, "verify")
    lies = harness.sim.stats()["revoke_lies"]
    assert lies > 0
    entries = harness.entries(incident_id)
    survivors = [e.data for e in entries if e.kind == kinds.TOKEN_STILL_ALIVE]
    verified = next(e.data for e in entries if e.kind == kinds.REVOCATION_VERIFIED)
    assert (verified["sample_size"], verified["alive"], verified["dead"]) == (120, lies, 120 - lies)
    assert len(survivors) == lies
    assert all(s["escalate"] and s["dead_now"] and s["revoked_again"] == "revoked" for s in survivors)
    alarms = [e.data for e in entries if e.kind == kinds.REVOCATION_ALARM]
    assert [a["reason"] for a in alarms] == ["token_survived_revocation"] * lies
    assert all(harness.sim.is_grant_revoked(t["access_token"]) for t in harness.tokens)
    assert (after["escalate"], after["still_live"], after["still_exposed"]) == (True, 0, 0)
    with harness.runtime.store.unit_of_work() as session:
        assert [v.escalate for v in session.query(VerificationRow)] == [True]
        apps = harness.runtime.settings.app_names
        card = str(cards.incident_card(card_sync.card_state(session, incident_id, app_names=apps))[1])
    assert "🚨 *Escalated*: a revoked token still worked" in card

    logs = log_stream.getvalue()
    assert logs.count("proof.token_still_alive") == lies  # the alarm is logged, by fingerprint
    dump = json.dumps([e.as_dict() for e in entries]) + logs
    assert SECRET not in dump
    assert not any(t["access_token"] in dump or t["refresh_token"] in dump for t in harness.tokens)
