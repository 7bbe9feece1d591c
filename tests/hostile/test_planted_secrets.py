"""Planted secrets (client secret, bot token, intake token, a TikTok token) reach no output at all."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from orchestrator import clock
from orchestrator.api.app import create_app
from orchestrator.config import load_settings
from orchestrator.evidence.export import export_incident
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks import flows, service
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.timeline import compliance, export
from orchestrator.timeline.figures import load_record
from orchestrator.timeline.postmortem import render_postmortem
from orchestrator.worker.runtime import Runtime
from tests.support.engine import scheduler_thread
from tests.support.processes import wait_for
from tests.support.runtime import API_TOKEN, make_runtime
from tests.support.server import serve_app
from tests.support.slack_standin import SlackStandIn, slack_standin
from tests.support.worker import in_process_worker

CLIENT_SECRET = "planted-client-secret-9d2e41c7"
BOT_TOKEN = "xoxb-planted-bot-token-55aa11"
INTAKE = "planted-intake-token-0c8f3b6a"


@dataclass
class Stage:
    runtime: Runtime
    base_url: str
    sim: TikTokSimulator
    slack: SlackStandIn
    tiktok_token: str
    refresh_token: str

    def planted(self) -> list[str]:
        return [CLIENT_SECRET, BOT_TOKEN, INTAKE, self.tiktok_token, self.refresh_token]

    def run(self, playbook: str, incident_id: str | None, **inputs: Any) -> str:
        run_id = flows.start_manual_run(
            self.runtime.transaction,
            playbook=self.runtime.playbooks[playbook],
            given_inputs=inputs,
            incident_id=incident_id,
            dry_run=False,
            actor="cli:tester",
        )

        def finished() -> str | None:
            with self.runtime.store.unit_of_work() as session:
                status = service.get_run(session, run_id=run_id).status
            return None if status == "running" else status

        assert wait_for(finished, timeout=60, what=f"{playbook} to finish") == "succeeded"
        return run_id


@pytest.fixture
def stage(tmp_path: Path, log_stream: io.StringIO) -> Iterator[Stage]:
    options = SimulatorOptions(client_secret=CLIENT_SECRET, seed=21)
    with TikTokSimulator(options) as sim, slack_standin(BOT_TOKEN) as slack:
        records = [r.as_json() for r in sim.iter_issue_tokens(5)]
        inventory = tmp_path / "tokens.jsonl"
        inventory.write_text("".join(json.dumps(r) + "\n" for r in records))
        settings = load_settings(
            overrides={
                "data_dir": tmp_path / "data",
                "intake_token": INTAKE,
                "api_token": API_TOKEN,
                "tiktok_api_base": sim.base_url,
                "tiktok_client_key": options.client_key,
                "tiktok_client_secret": CLIENT_SECRET,
                "tiktok_revoke_rate": 0,
                "token_inventory": str(inventory),
                "slack_bot_token": BOT_TOKEN,
                "slack_api_url": slack.url,
                "relay_interval_seconds": 0.1,
            }
        )
        runtime = make_runtime(settings)
        try:
            with (
                scheduler_thread(runtime),
                in_process_worker(runtime),
                serve_app(create_app(runtime)) as base_url,
            ):
                yield Stage(
                    runtime, base_url, sim, slack, records[0]["access_token"], records[0]["refresh_token"]
                )
        finally:
            runtime.close()


def drive(stage: Stage) -> tuple[str, list[tuple[str, str]]]:
    """Post an event carrying the token, run a note with the secret, revoke; return every output."""
    token, outputs = stage.tiktok_token, []
    event = {
        "title": f"Token {token} leaked with secret {CLIENT_SECRET}",
        "kind": "credential.leak",
        "severity": "low",
        "dedup_key": "planted-1",
        "labels": {"access_token": token, "note": f"bot {BOT_TOKEN} intake {INTAKE}"},
        "entities": {"users": [token]},
    }
    headers = {"Authorization": f"Bearer {INTAKE}", "X-Leaked-Token": token, "Cookie": f"s={CLIENT_SECRET}"}
    posted = httpx.post(f"{stage.base_url}/v1/events", json=event, headers=headers)
    assert posted.status_code == 202, posted.text
    outputs.append(("202 answer", posted.text))

    def incident() -> str | None:
        with stage.runtime.store.unit_of_work() as session:
            return session.scalars(select(IncidentRow.id)).first()

    incident_id = wait_for(incident, timeout=30, what="the incident")
    stage.run("incident-note", incident_id, text=f"rotated {CLIENT_SECRET}; old token {token}")
    stage.run("revoke-tokens", incident_id, scope="all")
    assert stage.sim.is_grant_revoked(token)

    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    bad = [
        httpx.post(
            f"{stage.base_url}/v1/events",
            content=f"{{{token}",
            headers={**auth, "Content-Type": "application/json"},
        ),
        httpx.post(f"{stage.base_url}/v1/events", json={"title": token, "kind": CLIENT_SECRET}, headers=auth),
        httpx.post(
            f"{stage.base_url}/v1/events", json=event, headers={"Authorization": f"Bearer {CLIENT_SECRET}"}
        ),
        httpx.get(f"{stage.base_url}/v1/incidents/{token}", headers=auth),
        httpx.get(f"{stage.base_url}/incidents/{token}", headers=auth),
    ]
    assert all(400 <= r.status_code < 500 for r in bad), [r.status_code for r in bad]
    outputs += [(f"{r.status_code} error body", r.text) for r in bad]
    for path in (f"/v1/incidents/{incident_id}", f"/v1/incidents/{incident_id}/timeline", "/v1/incidents"):
        page = httpx.get(stage.base_url + path, headers=auth)
        assert page.status_code == 200
        outputs.append((path, page.text))
    page = httpx.get(f"{stage.base_url}/incidents/{incident_id}", headers=auth)
    assert page.status_code == 200 and incident_id in page.text
    outputs.append(("HTML page", page.text))
    outputs.append(("/metrics", httpx.get(f"{stage.base_url}/metrics", headers=auth).text))
    return incident_id, outputs


def _bundle(stage: Stage, incident_id: str, now: datetime) -> dict[str, Any]:
    runtime = stage.runtime
    done = export_incident(
        runtime.store, runtime.settings, runtime.evidence_key(), incident_id=incident_id, now=now
    )
    return done.bundle


def test_no_planted_secret_reaches_any_output(stage: Stage, log_stream: io.StringIO) -> None:
    incident_id, outputs = drive(stage)
    settings, now = stage.runtime.settings, clock.utcnow()
    with stage.runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=incident_id)
    assert len(record.entries) >= 5
    targets: dict[str, Any] = dict(
        disconnect_target_minutes=settings.compliance_disconnect_target_minutes,
        report_target_minutes=settings.compliance_report_target_minutes,
    )
    outputs += [
        ("timeline JSON", export.render_json(record, generated_at=now)),
        ("timeline Markdown", export.render_markdown(record, generated_at=now)),
        ("timeline HTML export", export.render_html(record, generated_at=now)),
        ("postmortem", render_postmortem(record, generated_at=now, **targets, figures_file="p.svg")),
        ("evidence bundle", json.dumps(_bundle(stage, incident_id, now))),
        ("compliance", compliance.render_compliance_markdown(compliance.assess(record, now=now, **targets))),
        ("Slack calls", "\n".join(stage.slack.raw_bodies)),
        ("logs", log_stream.getvalue()),
    ]
    assert "revocation" in outputs[-1][1] or "revoke" in outputs[-1][1], "the logs saw the work"
    leaks = [(name, secret) for name, text in outputs for secret in stage.planted() if secret in text]
    assert leaks == [], "\n".join(f"{n}: {s}" for n, s in leaks)
