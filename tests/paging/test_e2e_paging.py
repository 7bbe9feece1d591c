"""End to end against `orchestrator up`: a critical event pages the on-call on PagerDuty and
Opsgenie (their stand-ins) and calls the on-call group into the room; `/ir resolve` in the room
resolves both pages; a service answering 500 once is tried again; the keys are nowhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from tests.chatops.slack_driver import SlackDriver
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET
from tests.support.paging_standins import opsgenie_standin, pagerduty_standin
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for
from tests.support.receiver import receiver
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN
from tests.support.slack_standin import slack_standin

pytestmark = pytest.mark.slow

ROUTING_KEY = "R0planted5e3f4a9b8c7d6e5f4a3b2c1d"
GENIE_KEY = "7c1e5f2a-planted-4b8e-9d3c-a6f0b2e4d8c1"
ADMIN = "U0ADMIN1"


def test_a_critical_incident_pages_the_oncall_and_its_resolution_resolves_the_pages(tmp_path: Path) -> None:
    api_port = free_port()
    with (
        TikTokSimulator(SimulatorOptions(seed=11)) as sim,
        slack_standin(BOT_TOKEN) as slack,
        pagerduty_standin(ROUTING_KEY) as pagerduty,
        opsgenie_standin(GENIE_KEY) as opsgenie,
        receiver() as replies,
    ):
        slack.usergroups["SONCALL"] = ["UONCALL"]
        records = [r.as_json() for r in sim.iter_issue_tokens(10, open_id_prefix="page-user-")]
        (tmp_path / "tokens.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        env = orchestrator_env(
            tmp_path / "data",
            port=str(api_port),
            intake_token=INTAKE_TOKEN,
            api_token=API_TOKEN,
            relay_interval_seconds="0.2",
            redeliver_after_seconds="1",
            tiktok_api_base=sim.base_url,
            tiktok_client_key=sim.options.client_key,
            tiktok_client_secret=sim.options.client_secret,
            tiktok_revoke_rate="0",
            token_inventory=str(tmp_path / "tokens.jsonl"),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.url,
            slack_oncall_usergroup="SONCALL",
            slack_admins=json.dumps([ADMIN]),
            paging__pagerduty_routing_key=ROUTING_KEY,
            paging__pagerduty_url=pagerduty.url,
            paging__opsgenie_api_key=GENIE_KEY,
            paging__opsgenie_url=opsgenie.url,
            paging__slack_mention="SONCALL",
        )
        pagerduty.fail_next(1)  # the page's first try meets a 500: the step tries again
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
            }
            headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
            assert httpx.post(f"{base}/v1/events", json=event, headers=headers).status_code == 202
            api = {"Authorization": f"Bearer {API_TOKEN}"}

            def incident_id() -> str | None:  # once disconnected: the page never holds the switch
                found = httpx.get(f"{base}/v1/incidents", headers=api, timeout=5).json()["incidents"]
                return str(found[0]["id"]) if found and found[0]["disconnected_at"] else None

            incident = wait_for(incident_id, timeout=60, what="the incident disconnected")
            key = f"orchestrator-{incident}"
            wait_for(
                lambda: key in pagerduty.alerts and key in opsgenie.alerts, timeout=90, what="both pages"
            )
            [room] = wait_for(lambda: list(slack.channels.values()), timeout=60, what="the room")

            def mention() -> list[dict[str, Any]]:
                return [
                    m
                    for m in slack.messages.get(room["id"], {}).values()
                    if "<!subteam^SONCALL>" in m["text"]
                ]

            [called] = wait_for(mention, timeout=60, what="the on-call group called into the room")
            assert "TikTok client secret found in a public repository" in called["text"]

            opsgenie.fail_next(1)  # the close's first try meets a 500: the outbox sends it again
            driver = SlackDriver(base, SIGNING_SECRET, replies)
            reply = driver.ir(ADMIN, "resolve secret rotated, tokens revoked", channel=room["id"])
            assert incident in reply["text"]
            wait_for(
                lambda: (
                    pagerduty.alerts[key]["status"] == "resolved"
                    and opsgenie.alerts[key]["status"] == "closed"
                ),
                timeout=90,
                what="both pages resolved",
            )

            def paging_entries() -> list[dict[str, Any]] | None:
                entries = httpx.get(f"{base}/v1/incidents/{incident}/timeline", headers=api, timeout=5).json()
                found = [e for e in entries["entries"] if e["kind"].startswith("page.")]
                return found if len(found) == 4 else None

            entries = wait_for(paging_entries, timeout=30, what="four paging entries")
            timeline_text = httpx.get(f"{base}/v1/incidents/{incident}/timeline", headers=api, timeout=5).text
        finally:
            proc.stop()

    # Opsgenie took the first try while PagerDuty answered 500; PagerDuty resolved first while
    # Opsgenie answered 500
    assert [(e["kind"], e["data"]["provider"], e["data"]["key"]) for e in entries] == [
        ("page.sent", "opsgenie", key),
        ("page.sent", "pagerduty", key),
        ("page.resolved", "pagerduty", key),
        ("page.resolved", "opsgenie", key),
    ]
    answers = {(e["kind"], e["data"]["provider"]): e["data"]["answer"] for e in entries}
    assert answers[("page.sent", "pagerduty")] == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": key,
    }
    assert answers[("page.sent", "opsgenie")]["result"] == "Request will be processed"
    assert set(answers[("page.resolved", "opsgenie")]) == {"result", "took", "requestId"}
    # what reached the services, in their documented shapes
    pd_sent = [r.body for r in pagerduty.requests]
    assert [r.status for r in pagerduty.requests] == [500, 202, 202]
    assert [(b["event_action"], b["dedup_key"]) for b in pd_sent[1:]] == [("trigger", key), ("resolve", key)]
    assert pd_sent[1]["payload"]["severity"] == "critical"
    assert [r.status for r in opsgenie.requests] == [202, 500, 202]
    assert opsgenie.requests[0].body["alias"] == key and opsgenie.requests[0].body["priority"] == "P1"
    assert opsgenie.requests[2].path == f"/v2/alerts/{key}/close?identifierType=alias"
    # the keys went to their services and nowhere else
    log = (tmp_path / "up.log").read_text()
    for planted in (ROUTING_KEY, GENIE_KEY):
        assert planted not in timeline_text
        assert planted not in log
        assert planted not in " ".join(slack.raw_bodies) + json.dumps(replies.bodies())
