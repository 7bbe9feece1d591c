"""A worker SIGKILLed mid-notification on the deployed layouts (tests/revocation/concurrent.py
``deployment``: PostgreSQL with Redis or RabbitMQ, the API, the worker and the scheduler as
separate processes). The embedded default has the same scenario in test_process_kills.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.chatops.models import TikTokReportRow
from tests.revocation.concurrent import Setup, deployment
from tests.support.figures import COMBINATIONS, record_figures
from tests.support.kills import SlowSmtp
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.services]

DEPLOYED: list[Setup] = ["redis", "rabbitmq"]


@pytest.mark.parametrize("setup", DEPLOYED)
def test_a_worker_killed_mid_report_email_delivers_it_once(tmp_path: Path, setup: Setup) -> None:
    """The worker SIGKILLed while it emails the report to TikTok (the shipped tiktok-compromise
    playbook, started by a critical event), before the SMTP server took the message, and a new
    worker started: the report arrives exactly once, on the second attempt."""
    with (
        SlowSmtp("rcpt") as smtp,
        deployment(
            tmp_path,
            setup,
            tokens=30,
            rate=100.0,
            smtp_url=smtp.url,
            tiktok_report_to="security@tiktok.example",
        ) as incidents,
    ):
        site = incidents.site
        victim = next(p for p in site.procs if p.log.name.startswith("worker"))
        incidents.post_critical(1)
        assert smtp.stalled.wait(60), "the report never reached the SMTP server"
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
