"""Every secret the settings hold is masked from the first input on, in every process (issue 22).

Secrets used to be registered for redaction lazily: a source's own credential only on that
source's first delivery to that process, the SMTP password never. Here a fresh `orchestrator
up` (API, worker and scheduler, each its own process) and fresh CLI processes get each secret
planted in an event's title and label, in an `/ir note` and in the Slack command itself; none
reaches any output: the API, the pages, the exports, the logs, Slack, the email a playbook
sends through a real SMTP server (logging in with the planted password), and the store's rows.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from email.header import decode_header, make_header
from pathlib import Path

import httpx
import pytest

from tests.chatops.mailbox import mailbox, text_body
from tests.chatops.slack_driver import SlackDriver
from tests.support.engine import BOT_TOKEN, SIGNING_SECRET
from tests.support.processes import Proc, free_port, orchestrator_env, wait_for
from tests.support.receiver import receiver
from tests.support.runtime import API_TOKEN, INTAKE_TOKEN
from tests.support.slack_standin import slack_standin

pytestmark = pytest.mark.slow

PLANTED = {
    "splunk query token": "splunk-query-4e1d9a",
    "grafana hmac secret": "grafana-hmac-77c2e0",
    "pagerduty hmac secret": "pagerduty-hmac-b93f15",
    "pagerduty rotated secret": "pagerduty-old-0d6a2c",
    "datadog basic password": "datadog-pass-51ce8b",
    "smtp password": "smtp-pass-c40a7e",
    "sql inventory password": "inventory-pass-2f9b61",
    "metrics token": "metrics-token-8a7d3c",
}
SOURCES = {
    "splunk": {"auth": {"kind": "query_token", "secret": PLANTED["splunk query token"]}},
    "grafana": {"auth": {"kind": "hmac_timestamped", "secret": PLANTED["grafana hmac secret"]}},
    "pagerduty": {
        "auth": {
            "kind": "hmac_body",
            "secret": PLANTED["pagerduty hmac secret"],
            "secrets": [PLANTED["pagerduty rotated secret"]],
        }
    },
    "datadog": {"auth": {"kind": "basic", "username": "dd", "secret": PLANTED["datadog basic password"]}},
}

MAIL_PLAYBOOK = """
name: leak-mail
trigger: {match: {kinds: [credential.leak]}}
steps:
  - id: mail
    action: email.send
    with: {to: team@app.example, subject: "{{ incident.title }}", body: "{{ incident.title }}"}
"""


def decoded(header: str) -> str:
    return str(make_header(decode_header(header)))


def test_no_configured_secret_reaches_any_output_of_any_process(tmp_path: Path) -> None:
    port, smtp_port = free_port(), free_port()
    bare = " ".join(PLANTED.values())
    books = tmp_path / "books"
    books.mkdir()
    (books / "leak-mail.yaml").write_text(MAIL_PLAYBOOK)
    with slack_standin(BOT_TOKEN) as slack, receiver() as replies, mailbox(smtp_port, login=True) as mail:
        env = orchestrator_env(
            tmp_path / "data",
            port=str(port),
            intake_token=INTAKE_TOKEN,
            api_token=API_TOKEN,
            metrics_token=PLANTED["metrics token"],
            sources=json.dumps(SOURCES),
            smtp_url=f"smtp://ir:{PLANTED['smtp password']}@127.0.0.1:{smtp_port}",
            playbook_dirs=json.dumps([str(books)]),
            token_inventory=f"postgresql://app:{PLANTED['sql inventory password']}@127.0.0.1:9/app",
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.url,
            slack_admins='["UALICE"]',
            relay_interval_seconds="0.2",
        )
        proc = Proc(["up"], env=env, cwd=tmp_path, log=tmp_path / "up.log")
        base = f"http://127.0.0.1:{port}"
        api = {"Authorization": f"Bearer {API_TOKEN}"}
        outputs: dict[str, str] = {}
        try:
            wait_for(
                lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, timeout=60, what="up"
            )
            event = {
                "title": f"Leaked: {bare}",
                "kind": "credential.leak",
                "severity": "low",
                "labels": {"found": bare},
            }
            posted = httpx.post(
                f"{base}/v1/events", json=event, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
            )
            assert posted.status_code == 202, posted.text
            incident = wait_for(
                lambda: httpx.get(f"{base}/v1/incidents", headers=api, timeout=5).json()["incidents"],
                timeout=60,
                what="the incident",
            )[0]["id"]
            driver = SlackDriver(base, SIGNING_SECRET, replies)
            noted = driver.ir("UALICE", f"note {incident} rotated {bare}")
            outputs["slack reply"] = json.dumps(noted)

            def timeline() -> str | None:
                text = httpx.get(f"{base}/v1/incidents/{incident}/timeline", headers=api, timeout=5).text
                return text if '"kind":"note"' in text.replace(" ", "") else None

            outputs["API timeline"] = wait_for(timeline, timeout=30, what="the note on the timeline")
            outputs["API incident"] = httpx.get(f"{base}/v1/incidents/{incident}", headers=api).text
            outputs["HTML page"] = httpx.get(f"{base}/incidents/{incident}", headers=api).text
            outputs["metrics"] = httpx.get(f"{base}/metrics", headers=api).text
            for fmt in ("json", "md", "html", "text"):
                cli = subprocess.run(
                    [sys.executable, "-m", "orchestrator", "timeline", incident, "--format", fmt],
                    env=env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=True,
                )
                outputs[f"CLI timeline {fmt}"] = cli.stdout + cli.stderr
            sent = wait_for(mail.received, timeout=30, what="the playbook's email")
            outputs["email"] = "\n".join(
                f"{message.as_string()}\n{decoded(message['Subject'])}\n{text_body(message)}"
                for _, message in sent
            )
        finally:
            proc.stop()
        outputs["logs of up"] = proc.log.read_text()
        outputs["Slack calls"] = "\n".join(slack.raw_bodies)
    with closing(sqlite3.connect(tmp_path / "data" / "orchestrator.sqlite")) as db:
        outputs["store rows"] = "\n".join(db.iterdump())  # every table, every row
    assert "Leaked:" in outputs["CLI timeline text"] and "rotated" in outputs["API timeline"]
    assert "Leaked:" in outputs["email"] and "rotated" in outputs["store rows"]
    leaks = sorted(
        {(where, what) for where, text in outputs.items() for what, v in PLANTED.items() if v in text}
    )
    assert leaks == [], "\n".join(f"{what} in {where}" for where, what in leaks)
