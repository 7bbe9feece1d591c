"""The report to TikTok: a real run delivers it to a real SMTP server, once per incident, secret-free."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator import clock
from orchestrator.incidents.models import IncidentRow
from orchestrator.metrics import scrape
from orchestrator.switch import flows as switch_flows
from orchestrator.timeline import checkpoints
from orchestrator.timeline import service as timeline
from tests.chatops.mailbox import Mailbox, mailbox, text_body
from tests.support.engine import BOT_TOKEN, CLIENT_SECRET, Engine, running_engine
from tests.support.processes import free_port, wait_for
from tests.support.receiver import Receiver, receiver

PLAYBOOKS = {
    "report": """
name: report
trigger: {manual: {}}
steps:
  - id: tell
    action: tiktok.report
    retry: {attempts: 40, backoff: 0.2, max_backoff: 0.4}
""",
}
REPORT_TO = "security-reports@tiktok.example"


@dataclass
class World:
    engine: Engine
    port: int
    hook: Receiver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    port = free_port()
    with (
        receiver() as hook,
        running_engine(
            tmp_path_factory.mktemp("report"),
            PLAYBOOKS,
            smtp_url=f"smtp://127.0.0.1:{port}",
            smtp_from="ir@app.example",
            tiktok_report_to=REPORT_TO,
            tiktok_report_http_url=f"{hook.url}/report",
            report_contact="Jane Doe, security lead, +1 555 0100, secops@app.example",
            slack_signing_secret="planted-signing-secret-for-report",
        ) as engine,
    ):
        yield World(engine, port, hook)


def _incident(engine: Engine) -> str:
    incident_id = engine.open_incident(title=f"Client secret {CLIENT_SECRET} and act.0123456789abcdef leaked")
    switch_flows.engage_switch(
        engine.runtime.store,
        engine.runtime.settings,
        by="cli:tester",
        reason="contain",
        incident_id=incident_id,
    )
    with engine.runtime.transaction() as session:
        timeline.append_entry(
            session, chain=incident_id, actor="cli:tester", kind="note", message=f"bot token {BOT_TOKEN}"
        )
    return incident_id


def _incident_row(world: World, incident_id: str) -> IncidentRow:
    with world.engine.runtime.store.unit_of_work() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        session.expunge(row)
        return row


def _assert_carries_a_signed_checkpoint(world: World, incident_id: str, body: str) -> None:
    """The email holds the chain's head as signed when it was written: TikTok keeps the proof."""
    with world.engine.runtime.store.unit_of_work() as session:
        signed = next(c for c in checkpoints.for_chain(session, incident_id) if c.reason == "report")
        head = next(e for e in timeline.entries(session, incident_id) if e.seq == signed.seq)
    assert signed.head_hash == head.hash and head.kind != "report.delivered"
    key = world.engine.runtime.evidence_key().public
    assert f"Timeline checkpoint: {incident_id} entry {signed.seq}, head hash {head.hash}" in body
    assert f"Signed at {signed.at} by Ed25519 key {key.fingerprint}; the signature over the" in body
    assert f"\n{signed.signature}\r\n" in body and key.verifies(signed.signature, signed.message())


def test_report_is_delivered_once_with_counts_and_no_secrets(world: World) -> None:
    incident_id = _incident(world.engine)
    with mailbox(world.port) as box:
        first = world.engine.start("report", incident_id=incident_id)
        assert world.engine.finished(first)["status"] == "succeeded"
        again = world.engine.start("report", incident_id=incident_id)  # a second trigger
        result = world.engine.finished(again)
    assert result["status"] == "succeeded"
    assert result["detail"]["tell"]["output"]["email"]["already_sent"] is True
    [(rcpt, message)] = box.received()
    body = text_body(message)
    incident = _incident_row(world, incident_id)
    assert rcpt == [REPORT_TO] and message["Subject"].endswith(f"({incident_id})")
    assert f"Became aware:             {incident.aware_at.isoformat(timespec='seconds')}" in body
    assert incident.disconnected_at is not None
    assert f"Disconnected from TikTok: {incident.disconnected_at.isoformat(timespec='seconds')}" in body
    assert "Affected open_ids named:  2" in body and "kill switch engaged: contain" in body
    assert "Jane Doe, security lead" in body
    for secret in (CLIENT_SECRET, BOT_TOKEN, "act.0123456789abcdef", "open-id-aaa", "planted-signing-secret"):
        assert secret not in body + str(message) + str(world.hook.calls)
    delivered = [e for e in world.engine.entries(incident_id) if e.kind == "report.delivered"]
    assert [(e.data["channel"], e.data["to"]) for e in delivered] == [
        ("email", REPORT_TO),
        ("http", f"{world.hook.url}/report"),
    ]
    assert delivered[0].data["message_id"] == message["Message-ID"]
    _assert_carries_a_signed_checkpoint(world, incident_id, body)
    assert (incident.status, incident.reported_at is not None) == ("reported", True)
    assert len(world.hook.bodies("/report")) == 1


def test_a_chain_cut_off_before_the_report_is_not_signed_and_the_report_says_so(world: World) -> None:
    """A checkpoint over the cut head would tell TikTok the shorter chain is the whole story."""
    incident_id = _incident(world.engine)
    runtime = world.engine.runtime
    with runtime.store.unit_of_work() as session:
        head = checkpoints.take(
            session, chain=incident_id, signer=runtime.evidence_key(), reason="milestone", now=clock.utcnow()
        )
    assert head is not None
    with runtime.store.engine.begin() as conn:  # SQLite: nothing refuses it
        conn.execute(text(f"DELETE FROM timeline_entries WHERE chain = '{incident_id}' AND seq = {head.seq}"))
    with mailbox(world.port) as box:
        assert (
            world.engine.finished(world.engine.start("report", incident_id=incident_id))["status"]
            == "succeeded"
        )
    [(_, message)] = [(rcpt, m) for rcpt, m in box.received() if incident_id in m["Subject"]]
    body = text_body(message)
    assert "Timeline checkpoint:" not in body
    assert f"Our incident timeline did not pass its integrity check (entry {head.seq}: " in body
    assert "so no signed checkpoint of it is attached to this report." in body
    with runtime.store.unit_of_work() as session:
        assert [c.reason for c in checkpoints.for_chain(session, incident_id) if c.reason == "report"] == []


def test_smtp_down_at_first_then_delivered_once_it_returns(world: World, log_stream: io.StringIO) -> None:
    incident_id = _incident(world.engine)
    run_id = world.engine.start("report", incident_id=incident_id)
    wait_for(
        lambda: [e for e in world.engine.entries(incident_id) if e.kind == "report.failed"],
        timeout=20,
        what="a failed delivery while SMTP is down",
    )
    lines = log_stream.getvalue().splitlines()
    logged = [json.loads(line) for line in lines if "report to TikTok failed" in line]
    assert logged and logged[0]["level"] == "error" and logged[0]["incident_id"] == incident_id
    exposed = scrape(world.engine.runtime).decode()
    failures = re.search(r"^orchestrator_report_failures_total (\S+)$", exposed, re.M)
    assert failures and float(failures[1]) >= 1
    with mailbox(world.port, Mailbox()) as box:
        assert world.engine.finished(run_id, timeout=30)["status"] == "succeeded"
    assert len(box.received()) == 1
    assert _incident_row(world, incident_id).reported_at is not None


def test_an_unreadable_evidence_key_never_stops_the_report(tmp_path: Path) -> None:
    port = free_port()
    with running_engine(
        tmp_path,
        PLAYBOOKS,
        smtp_url=f"smtp://127.0.0.1:{port}",
        tiktok_report_to=REPORT_TO,
        evidence_key_file=str(tmp_path / "not-mounted.pem"),
    ) as engine:
        incident_id = _incident(engine)
        with mailbox(port) as box:
            assert engine.finished(engine.start("report", incident_id=incident_id))["status"] == "succeeded"
    [(_, message)] = box.received()
    body = text_body(message)
    assert "Disconnected from TikTok:" in body and "EVIDENCE" not in body
