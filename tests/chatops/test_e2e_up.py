"""End to end: a critical event to a running `orchestrator up` with the Slack stand-in and an SMTP
server yields, within seconds, the switch engaged, every token revoked, a room with its card, and
the report to TikTok in the mailbox."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.chatops.mailbox import mailbox, text_body
from tests.chatops.up_env import slack_up_env
from tests.support.engine import BOT_TOKEN
from tests.support.processes import Proc, free_port, wait_for
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN
from tests.support.slack_standin import slack_standin

pytestmark = pytest.mark.slow

CHATOPS_PLAYBOOK = """
name: chatops-compromise
trigger: {match: {kinds: ["*"], min_severity: high}}
steps:
  - {id: disconnect, action: tiktok.kill_switch, with: {reason: "{{ incident.title }}"}}
  - {id: room, action: slack.open_channel}
  - id: report
    action: tiktok.report
    retry: {attempts: 20, backoff: 0.5, max_backoff: 2}
"""


def test_critical_event_disconnects_revokes_opens_a_room_and_reports(tmp_path: Path) -> None:
    smtp_port, api_port = free_port(), free_port()
    books = tmp_path / "books"
    books.mkdir()
    (books / "chatops.yaml").write_text(CHATOPS_PLAYBOOK)
    with (
        TikTokSimulator(SimulatorOptions(seed=7)) as sim,
        slack_standin(BOT_TOKEN) as slack,
        mailbox(smtp_port) as box,
    ):
        slack.usergroups["SONCALL"] = ["UONCALL"]
        records = [r.as_json() for r in sim.iter_issue_tokens(40, open_id_prefix="e2e-user-")]
        (tmp_path / "tokens.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        env = slack_up_env(
            tmp_path / "data",
            port=api_port,
            books=books,
            slack_url=slack.url,
            tiktok_api_base=sim.base_url,
            tiktok_client_key=sim.options.client_key,
            tiktok_client_secret=sim.options.client_secret,
            tiktok_revoke_rate="0",
            token_inventory=str(tmp_path / "tokens.jsonl"),
            slack_oncall_usergroup="SONCALL",
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            smtp_from="ir@app.example",
            tiktok_report_to="security@tiktok.example",
        )
        proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
        try:
            base = f"http://127.0.0.1:{api_port}"
            wait_for(
                lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, timeout=90, what="up"
            )
            event = {
                "title": "TikTok client secret found in a public repository",
                "kind": "credential.leak",
                "severity": "critical",
                "entities": {"open_ids": [records[0]["open_id"]]},
            }
            headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
            assert httpx.post(f"{base}/v1/events", json=event, headers=headers).status_code == 202
            api = {"Authorization": f"Bearer {API_TOKEN}"}

            def incident() -> dict[str, object] | None:
                found = httpx.get(f"{base}/v1/incidents", headers=api, timeout=5).json()["incidents"]
                return (
                    found[0] if found and found[0].get("revoked_at") and found[0].get("reported_at") else None
                )

            done = wait_for(incident, timeout=60, what="the incident disconnected, revoked and reported")
        finally:
            proc.stop()
        assert done["disconnected_at"] is not None
        assert all(sim.is_grant_revoked(r["access_token"]) for r in records)
        [room] = list(slack.channels.values())
        day = str(done["aware_at"])[:10]
        assert room["name"] == f"ir-{day}-tiktok-client-secret-found-in-a-public-repository"
        assert room["topic"].endswith(f" · {done['id']}") and "UONCALL" in room["members"]
        assert slack.pins[room["id"]] and any(m["blocks"] for m in slack.messages[room["id"]].values())
        [(rcpt, message)] = box.received()
        assert rcpt == ["security@tiktok.example"] and done["id"] in message["Subject"]
        assert sim.options.client_secret not in text_body(message) + " ".join(slack.raw_bodies)
