"""Orchestrator processes SIGKILLed mid-work and started again on the same store (the embedded
default: SQLite and the filesystem broker): nothing is lost, and nothing is done twice beyond
the bound the design admits.

Not repeated here: a lone worker killed while correlating (tests/e2e/test_processes.py), a lone
worker killed mid-revocation from a manual run (tests/revocation/test_revocation_crash.py) and a
lone worker killed in a wait step (tests/e2e/test_playbook_crash.py).
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.events.models import EventRow
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.models import RunRow, StepRunRow
from orchestrator.reporting.models import TikTokReportRow
from orchestrator.revocation.models import RevocationRow
from orchestrator.store.outbox import OutboxRow
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.timeline import kinds
from orchestrator.timeline.models import TimelineEntryRow
from tests.chatops.mailbox import mailbox
from tests.support.figures import EMBEDDED, record_figures
from tests.support.kills import (
    KillingSenders,
    Site,
    SlowSmtp,
    count_entries,
    in_flight_bound,
    kill_mid_revocation,
    ledger_count,
)
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.slow

TOKENS = 2400
BATCH, WIDTH, THREADS = 250, 8, 4  # revocation_batch_size, revocation_concurrency, worker_concurrency


def _critical(open_ids: list[str]) -> dict[str, Any]:
    return {
        "title": "TikTok client secret found in a public repository",
        "kind": "credential.leak",
        "severity": "critical",
        "entities": {"open_ids": open_ids},
    }


def _tiktok(sim: TikTokSimulator, tmp: Path, n: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    """``n`` live grants at the simulator, the JSON-lines inventory holding them, and the settings."""
    records = [r.as_json() for r in sim.iter_issue_tokens(n)]
    inventory = tmp / "tokens.jsonl"
    inventory.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records, {
        "tiktok_api_base": sim.base_url,
        "tiktok_client_key": sim.options.client_key,
        "tiktok_client_secret": sim.options.client_secret,
        "token_inventory": str(inventory),
    }


def _run(session: Session) -> RunRow | None:
    return session.scalars(select(RunRow).where(RunRow.playbook_name == "tiktok-compromise")).first()


def _succeeded(site: Site, step_id: str, *, timeout: float) -> None:
    """Wait until the tiktok-compromise run's step succeeded; a timeout names its last state."""

    def step(session: Session) -> StepRunRow | None:
        run = _run(session)
        query = select(StepRunRow).where(StepRunRow.step_id == step_id)
        return None if run is None else session.scalars(query.where(StepRunRow.run_id == run.id)).first()

    def probe() -> bool:
        row = site.read(step)
        if row is None or row.status != "succeeded":
            raise AssertionError(
                "no step yet" if row is None else f"{row.status}, {row.attempt}: {row.error}"
            )
        return True

    wait_for(probe, timeout=timeout, what=f"step {step_id} to succeed")


def test_up_killed_mid_mass_revocation_resumes_by_itself(tmp_path: Path) -> None:
    """The whole ``orchestrator up`` (API, worker and its Celery child, scheduler) SIGKILLed in the
    middle of the revocation a critical event started; ``up`` again on the same store finishes it.
    Tokens sent twice are at most those in ``sending`` at the kill (``in_flight_bound``)."""
    bound = in_flight_bound(threads=THREADS, batch=BATCH, width=WIDTH)
    smtp_port = free_port()
    with TikTokSimulator(SimulatorOptions(latency_ms=5, seed=11)) as sim, mailbox(smtp_port) as box:
        records, tiktok = _tiktok(sim, tmp_path, TOKENS)
        site = Site(
            tmp_path,
            **tiktok,
            tiktok_revoke_rate="150",
            revocation_batch_size=str(BATCH),
            revocation_concurrency=str(WIDTH),
            worker_concurrency=str(THREADS),
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            tiktok_report_to="security@tiktok.example",
        )
        try:
            first = site.start("up")
            site.healthy()
            assert site.post(_critical([r["open_id"] for r in records[:3]])) == 202
            wait_for(
                lambda: site.read(lambda s: ledger_count(s, "revoked", "already_dead")) >= TOKENS // 3,
                timeout=60,
                what="a third of the tokens revoked",
            )
            wait_for(  # the ledger says the report went: the kill leaves it alone
                lambda: site.read(lambda s: s.scalars(select(IncidentRow.reported_at)).first()),
                timeout=30,
                what="the report to TikTok recorded",
            )
            at_kill, in_flight = kill_mid_revocation(site, first)
            restarted = time.monotonic()
            site.start("up")
            _succeeded(site, "revoke", timeout=80)
            seconds = time.monotonic() - restarted
            run = site.read(_run)
            assert run is not None and run.incident_id is not None
            chain = run.incident_id
            # every step before the two manual ones ran by itself: the tally note is the last
            _succeeded(site, "tally", timeout=30)
            revocation = site.read(lambda s: s.scalars(select(RevocationRow)).one())
            incident = site.read(lambda s: s.get(IncidentRow, chain))
            stories = site.read(
                lambda s: count_entries(
                    s, chain, kinds.REVOCATION_STARTED, kinds.REVOCATION_FINISHED, kinds.REVOCATION_ALARM
                )
            )
            settled = site.read(lambda s: ledger_count(s, "revoked", "already_dead"))
        finally:
            site.close()
        calls = [sim.revoke_calls(r["access_token"]) for r in records]
        twice = sum(1 for c in calls if c == 2)
        record_figures(
            "up SIGKILLed mid-revocation",
            EMBEDDED,
            tokens=TOKENS,
            settled_at_kill=at_kill,
            sending_at_kill=in_flight,
            in_flight_bound=bound,
            sent_twice=twice,
            max_sends=max(calls),
            restart_to_revoked_s=seconds,
        )
        assert 0 < at_kill < TOKENS
        assert in_flight <= bound
        assert all(sim.is_grant_revoked(r["access_token"]) for r in records)
        assert min(calls) >= 1 and max(calls) <= 2
        assert twice <= in_flight
        assert settled == TOKENS and revocation.status == "finished"
        assert stories == {
            kinds.REVOCATION_STARTED: 1,
            kinds.REVOCATION_FINISHED: 1,
            kinds.REVOCATION_ALARM: 0,
        }
        assert incident is not None and incident.revoked_at is not None
        assert len(box.received()) == 1  # sent before the kill, not again after it


def _low(key: str) -> dict[str, Any]:
    """A low-severity event: correlated into an incident, starts no playbook."""
    return {"title": f"burst {key}", "kind": "host.compromise", "severity": "low", "dedup_key": key}


def _settled_outbox(site: Site) -> bool:
    """Every outbox row done and no message left in the embedded broker's queue folder."""
    owed = site.read(
        lambda s: s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None)))
    )
    return owed == 0 and not any((site.data / "broker" / "queue").glob("*.msg"))


def test_api_killed_with_events_in_the_outbox_relays_each_once(tmp_path: Path) -> None:
    """``orchestrator serve`` takes a burst with no worker: the first part is published into the
    broker folder, then the publish path breaks (the broker's staging folder is a file) and the
    API is SIGKILLed mid-burst with requests in flight. Restarted, then a worker and scheduler:
    every event answered 202 becomes exactly one incident with one ``event.received`` entry,
    whether it went through the broker before the kill or only through the relay after it."""
    keys = [f"outbox-{i}" for i in range(240)]
    published, kill_after = 80, 80
    site = Site(tmp_path)
    try:
        api = site.start("serve")
        site.healthy()
        senders = KillingSenders(site, api, kill_at=published + kill_after, event=_low)
        accepted, unanswered = senders.accepted, senders.unanswered
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(lambda k: site.post(_low(k)), keys[:published])) == {202}
        accepted.update(keys[:published])
        wait_for(
            lambda: (
                site.read(
                    lambda s: s.scalar(select(func.count()).where(OutboxRow.dispatched_at.is_not(None)))
                )
                == published
            ),
            timeout=30,
            what="the first events published to the broker folder",
        )
        staging = site.data / "broker" / "queue" / ".staging"
        shutil.rmtree(staging)
        staging.write_text("not a folder: the broker cannot take a message")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(senders.send, keys[published:]))
        assert senders.killed.is_set()
        unsent = [k for k in keys if k not in accepted and k not in unanswered]
        unpublished = site.read(
            lambda s: int(s.scalar(select(func.count()).where(OutboxRow.dispatched_at.is_(None))) or 0)
        )
        staging.unlink()
        restarted = time.monotonic()
        site.start("serve")
        site.healthy()
        for key in unsent:  # the sender goes on with what it had not sent yet
            assert site.post(_low(key)) == 202
            accepted.add(key)
        site.start("worker")
        site.start("scheduler")
        wait_for(lambda: _settled_outbox(site), timeout=80, what="every outbox row done, the broker empty")
        seconds = time.monotonic() - restarted
        events = site.read(lambda s: list(s.execute(select(EventRow.dedup_key, EventRow.incident_id))))
        incidents = site.read(
            lambda s: list(s.execute(select(IncidentRow.dedup_key, IncidentRow.event_count)))
        )
        received = site.read(
            lambda s: list(
                s.execute(
                    select(TimelineEntryRow.chain, func.count())
                    .where(TimelineEntryRow.kind == kinds.EVENT_RECEIVED)
                    .group_by(TimelineEntryRow.chain)
                )
            )
        )
    finally:
        site.close()
    stored = [key for key, _ in events]
    duplicates = (
        (len(stored) - len(set(stored)))
        + (len(incidents) - len({key for key, _ in incidents}))
        + sum(n - 1 for _, n in incidents if n > 1)
        + sum(n - 1 for _, n in received if n > 1)
    )
    record_figures(
        "API SIGKILLed mid-burst",
        EMBEDDED,
        sent=len(accepted | unanswered),
        accepted=len(accepted),
        unanswered_at_kill=len(unanswered),
        unpublished_at_kill=unpublished,
        stored=len(stored),
        correlated_once=len(received),
        duplicates=duplicates,
        restart_to_all_correlated_s=seconds,
    )
    assert unpublished >= kill_after  # the relay, not the fast path, had to deliver these
    assert accepted <= set(stored) <= accepted | unanswered
    assert all(incident is not None for _, incident in events)
    assert len(incidents) == len(received) == len(stored)
    assert duplicates == 0


@pytest.mark.parametrize("stall", ["rcpt", "data"])
def test_worker_killed_mid_report_email_delivers_it_after_restart(
    tmp_path: Path, stall: Literal["rcpt", "data"]
) -> None:
    """The worker SIGKILLed while it emails the report to TikTok (the shipped tiktok-compromise
    playbook, started by a critical event) and a new worker started: the report is delivered.

    ``rcpt``: killed before the SMTP server took the message: it arrives exactly once.
    ``data``: killed after the server took the message but before its ``250`` reached the worker
    (RFC 1047's window): the worker cannot know it was sent, so the redo sends it again. That is
    the product's bound, at least once: one extra copy per worker killed in that window, every
    copy under the same ``Message-ID`` (the ledger's), the key the recipient dedupes on; the
    timeline records one delivery.
    """
    with TikTokSimulator(SimulatorOptions(seed=13)) as sim, SlowSmtp(stall) as smtp:
        records, tiktok = _tiktok(sim, tmp_path, 30)
        site = Site(
            tmp_path,
            **tiktok,
            tiktok_revoke_rate="0",
            smtp_url=smtp.url,
            tiktok_report_to="security@tiktok.example",
        )
        try:
            site.start("serve")
            site.start("scheduler")
            victim = site.start("worker")
            site.healthy()
            assert site.post(_critical([records[0]["open_id"]])) == 202
            assert smtp.stalled.wait(60), "the report never reached the SMTP server"
            victim.kill()
            smtp.release.set()
            restarted = time.monotonic()
            site.start("worker")
            _succeeded(site, "report", timeout=80)
            seconds = time.monotonic() - restarted
            _succeeded(site, "tally", timeout=30)
            run = site.read(_run)
            assert run is not None and run.incident_id is not None
            chain = run.incident_id
            ledger = site.read(lambda s: s.get(TikTokReportRow, (chain, "email")))
            counts = site.read(
                lambda s: count_entries(
                    s,
                    chain,
                    kinds.EVENT_RECEIVED,
                    kinds.SWITCH_ENGAGED,
                    kinds.REVOCATION_FINISHED,
                    kinds.REPORT_DELIVERED,
                )
            )
            incident = site.read(lambda s: s.get(IncidentRow, chain))
        finally:
            site.close()
    copies = smtp.received()
    ids = {message["Message-ID"] for _, message in copies}
    record_figures(
        f"worker SIGKILLed mid-report ({stall})",
        EMBEDDED,
        copies_received=len(copies),
        distinct_message_ids=len(ids),
        send_attempts=ledger.attempts if ledger else "none",
        delivered_entries=counts[kinds.REPORT_DELIVERED],
        restart_to_delivered_s=seconds,
    )
    assert ledger is not None and ledger.status == "sent" and ledger.attempts == 2
    assert incident is not None and incident.reported_at is not None
    assert len(copies) == (1 if stall == "rcpt" else 2)
    assert ids == {ledger.message_id}
    assert all(rcpt == ["security@tiktok.example"] for rcpt, _ in copies)
    assert set(counts.values()) == {1}, counts  # one event, one switch, one revocation, one delivery
    assert max(sim.revoke_calls(r["access_token"]) for r in records) == 1
