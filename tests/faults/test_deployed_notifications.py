"""A worker SIGKILLed mid-notification, and Slack and SMTP down then back, on the deployed layouts
(tests/revocation/concurrent.py ``deployment``: PostgreSQL with Redis or RabbitMQ, the API, the
workers and the scheduler as separate processes). The embedded default has the same scenarios in
test_process_kills.py and test_provider_outages.py.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.playbooks.models import RunRow
from orchestrator.reporting.models import TikTokReportRow
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from tests.chatops.mailbox import Mailbox, mailbox
from tests.revocation.concurrent import Setup, deployment
from tests.support.engine import BOT_TOKEN
from tests.support.figures import COMBINATIONS, record_figures
from tests.support.kills import SlowSmtp
from tests.support.outages import NOTIFY_STEPS, OUTAGE_PLAYBOOK, PROVIDER_OUTAGE, REPORT_TO, TEAM
from tests.support.processes import free_port, wait_for
from tests.support.slack_standin import slack_standin

pytestmark = [pytest.mark.slow, pytest.mark.services]

DEPLOYED: list[Setup] = ["redis", "rabbitmq"]


@pytest.mark.parametrize("setup", DEPLOYED)
def test_a_worker_killed_mid_report_email_delivers_it_once(tmp_path: Path, setup: Setup) -> None:
    """Of two workers, the one emailing the report to TikTok (the shipped tiktok-compromise
    playbook, started by a critical event) SIGKILLed before the SMTP server took the message, and
    a new worker started, as a supervisor would: the report arrives exactly once, on the second
    attempt, while the other worker went on."""
    with (
        SlowSmtp("rcpt") as smtp,
        deployment(
            tmp_path,
            setup,
            tokens=30,
            rate=100.0,
            workers=2,
            smtp_url=smtp.url,
            tiktok_report_to="security@tiktok.example",
        ) as incidents,
    ):
        site = incidents.site
        incidents.post_critical(1)
        assert smtp.stalled.wait(60), "the report never reached the SMTP server"
        workers = [p for p in site.procs if p.log.name.startswith("worker")]
        (victim,) = [p for p in workers if p.holds_port(smtp.stalled_port)]  # the one sending it
        victim.kill()  # mid-conversation: the fault lands on the report being sent
        smtp.release.set()
        restarted = time.monotonic()
        site.start("worker")
        ledger = wait_for(
            lambda: site.read(
                lambda s: s.scalars(select(TikTokReportRow).where(TikTokReportRow.status == "sent")).first()
            ),
            timeout=90,
            what="the report marked sent",
        )
        seconds = time.monotonic() - restarted
        incidents.revoked_at_all(1, timeout=60)
        repeats = incidents.repeats()
    copies = smtp.received()
    record_figures(
        "a worker SIGKILLed mid-report email",
        COMBINATIONS[setup],
        copies_received=len(copies),
        send_attempts=ledger.attempts,
        restart_to_delivered_s=seconds,
    )
    assert ledger.attempts == 2  # the killed worker's attempt, then the redo
    assert len(copies) == 1 and copies[0][0] == ["security@tiktok.example"]
    assert copies[0][1]["Message-ID"] == ledger.message_id
    assert repeats == 0


@pytest.mark.parametrize("setup", DEPLOYED)
def test_slack_and_smtp_down_then_each_notification_delivered_once(tmp_path: Path, setup: Setup) -> None:
    """Slack answers only 5xx and the SMTP server is stopped while the two workers run a playbook
    that posts to Slack, opens a room and emails (test_provider_outages.py's, started by an event):
    containment finishes during the outage, and once both are back each message arrives once."""
    books, smtp_port, box = tmp_path / "books", free_port(), Mailbox()
    books.mkdir()
    with slack_standin(BOT_TOKEN) as slack:
        security = slack.dispatch("conversations.create", {"name": "security"})["channel"]["id"]
        book = OUTAGE_PLAYBOOK.replace("SECURITY_CHANNEL", security)
        (books / "outage.yaml").write_text(book.replace("{manual: {}}", "{match: {kinds: [test.outage]}}"))
        with deployment(
            tmp_path,
            setup,
            tokens=40,
            rate=100.0,
            workers=2,
            playbook_dirs=json.dumps([str(books)]),
            slack_bot_token=BOT_TOKEN,
            slack_api_url=slack.url,
            slack_card_min_interval_seconds="1",
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            smtp_from="ir@app.example",
            tiktok_report_to=REPORT_TO,
        ) as incidents:
            site = incidents.site
            slack.outage("5xx")  # no SMTP server listens yet: both are down from here
            down_at = time.monotonic()
            event = {"title": "outage", "kind": "test.outage", "severity": "low", "dedup_key": "outage"}
            assert site.post(event) == 202

            def failed_steps() -> set[str]:
                query = select(TimelineEntryRow.data).where(TimelineEntryRow.kind == kinds.STEP_FAILED)
                return {(data or {}).get("step", "") for data in site.read(lambda s: s.scalars(query).all())}

            wait_for(
                lambda: set(NOTIFY_STEPS[:-1]) <= failed_steps() and incidents.settled() == 40,
                timeout=90,
                what="the revocation done and a failed try of each notice",
            )
            delivered_during = (len(box.received()), sum(len(m) for m in slack.messages.values()))
            time.sleep(max(0.0, PROVIDER_OUTAGE - (time.monotonic() - down_at)))
            slack.outage(None)
            with mailbox(smtp_port, box):
                up_at = time.monotonic()
                run = wait_for(
                    lambda: site.read(
                        lambda s: s.scalars(select(RunRow).where(RunRow.status != "running")).all()
                    ),
                    timeout=90,
                    what="the run to finish",
                )
                seconds = time.monotonic() - up_at
            repeats = incidents.repeats()
    every = [(c, m["text"]) for c, ms in slack.messages.items() for m in ms.values()]
    posted = [p for p in every if not p[1].startswith("✅ Playbook")]  # the run's end, told apart
    mail = Counter(tuple(rcpt) for rcpt, _ in box.received())
    record_figures(
        "Slack 5xx and SMTP down, then back",
        COMBINATIONS[setup],
        delivered=len(posted) + sum(mail.values()),
        slack_5xx_answered=slack.failed_calls(),
        outage_s=f"{up_at - down_at:.1f}",
        back_to_delivered_s=f"{seconds:.1f}",
    )
    assert delivered_during == (0, 0)
    assert [r.status for r in run] == ["succeeded"]
    assert len(posted) == len(set(posted)) == 3, posted  # the announcement, the room's card, the tally
    assert len(slack.answered("conversations.create")) == 1 and len(slack.answered("pins.add")) == 1
    assert mail == {(REPORT_TO,): 1, (TEAM,): 1}
    assert repeats == 0
