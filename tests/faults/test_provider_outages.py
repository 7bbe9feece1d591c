"""External providers down for a while, then back: the work completes, nothing lost, nothing done twice.

1. TikTok answers only 5xx for seconds in the middle of a mass revocation. Every token must
   end revoked, none may be sent again after a 200 (a token refused by a 5xx is rightly sent
   again: counted apart), no token may be given up as failed, and the timeline must say the
   revocation slowed down.
2. Slack (5xx or refused connections) and SMTP (server stopped) are down while a playbook
   posts to Slack and emails the report. Containment (kill switch, revocation) must finish
   during the outage; once the services return each message arrives exactly once, and the
   timeline holds both the failed attempts and the deliveries.

Each test prints one ``FIGURE:`` line (``pytest -s``) with what it measured.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import func, select

from orchestrator.chatops.client import SlackClient, SlackError, SlackUnavailable
from orchestrator.revocation.models import LedgerRow
from orchestrator.switch import service as switch
from orchestrator.tiktok import TikTokClient
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator
from orchestrator.tokens.provider import RevokeResult
from tests.chatops.mailbox import Mailbox, mailbox
from tests.support.engine import BOT_TOKEN, CLIENT_SECRET, Engine, running_engine
from tests.support.figures import EMBEDDED, record_figures
from tests.support.outages import NOTIFY_STEPS, OUTAGE_PLAYBOOK, PROVIDER_OUTAGE, REPORT_TO, TEAM, smtp_up
from tests.support.processes import free_port, wait_for
from tests.support.slack_standin import slack_standin

TOKENS = 1200


def _figure(name: str, **figures: float | str) -> None:
    record_figures(name, EMBEDDED, **figures)


def _inventory(path: Path, sim: TikTokSimulator, n: int) -> list[dict[str, str]]:
    records = [r.as_json() for r in sim.iter_issue_tokens(n, open_id_prefix="outage-user-")]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _ledger(engine: Engine) -> tuple[dict[str, int], int]:
    """Ledger rows by status, and how many rows were claimed more than once (sent again by the relay)."""
    with engine.runtime.store.unit_of_work() as session:
        counts = dict(
            session.execute(select(LedgerRow.status, func.count()).group_by(LedgerRow.status)).all()
        )
        again = session.scalar(select(func.count()).where(LedgerRow.attempts > 1))
    return {str(k): int(v) for k, v in counts.items()}, int(again or 0)


def _kinds(entries: list[Any]) -> list[str]:
    return [e.kind for e in entries]


def _step_entries(entries: list[Any], kind: str, step: str) -> list[int]:
    return [i for i, e in enumerate(entries) if e.kind == kind and (e.data or {}).get("step") == step]


def test_simulator_counts_5xx_refusals_apart_from_second_sends() -> None:
    """The figures of scenario 1 rely on it: a token refused by an injected 5xx is rightly sent
    again and must not look like a token sent twice after a 200."""
    with (
        TikTokSimulator(SimulatorOptions(seed=2)) as sim,
        TikTokClient(sim.base_url, sim.options.client_key, sim.options.client_secret) as client,
    ):
        first, second = sim.issue_tokens(2)
        sim.update_options(error_rate=1.0)
        assert [client.revoke(first.access_token).result for _ in range(3)] == [RevokeResult.RETRYABLE] * 3
        sim.update_options(error_rate=0.0)
        assert client.revoke(first.access_token).result is RevokeResult.REVOKED
        client.revoke(second.access_token)
        client.revoke(second.access_token)  # a duplicate: sent again after a 200
        assert [sim.revoke_failures(r.access_token) for r in (first, second)] == [3, 0]
        assert [sim.revoke_calls(r.access_token) for r in (first, second)] == [1, 2]
        stats = sim.stats()
        assert (stats["revoke_answered_5xx"], stats["tokens_answered_5xx"]) == (3, 1)
        assert stats["tokens_revoked_more_than_once"] == 1


def test_slack_standin_outage_fails_every_way_then_serves_again() -> None:
    """Slack down answers a JSON 500, an HTML 503 or nothing at all (refused); the client must call
    each one retryable (SlackUnavailable), and nothing sent meanwhile may appear afterwards."""
    modes: tuple[Literal["5xx", "refuse"], ...] = ("5xx", "5xx", "refuse")  # JSON 500, HTML 503, refused
    with slack_standin(BOT_TOKEN) as slack:
        slack_client = SlackClient(BOT_TOKEN, base_url=slack.url)
        channel = slack_client.create_channel("ops")
        for mode in modes:
            slack.outage(mode)
            with pytest.raises(SlackError) as failed:
                slack_client.post(channel, text="while down")
            assert isinstance(failed.value, SlackUnavailable), failed.value
        slack.outage(None)
        slack_client.post(channel, text="back")
        assert [m["text"] for m in slack.messages[channel].values()] == ["back"]
        assert slack.failed_calls("chat.postMessage") == 2


@pytest.mark.slow
def test_tiktok_answering_only_5xx_mid_revocation_then_recovering(tmp_path: Path) -> None:
    """A few seconds of 5xx must delay the disconnect, never leave it incomplete or send a token twice."""
    with TikTokSimulator(SimulatorOptions(client_secret=CLIENT_SECRET, seed=5)) as sim:
        tokens = _inventory(tmp_path / "tokens.jsonl", sim, TOKENS)
        with running_engine(
            tmp_path,
            {},
            tiktok_api_base=sim.base_url,
            tiktok_client_key=sim.options.client_key,
            tiktok_revoke_rate=150,  # several seconds of work, so the outage lands mid-way
            token_inventory=str(tmp_path / "tokens.jsonl"),
            revocation_batch_size=300,
            revocation_concurrency=8,
        ) as engine:
            run_id = engine.start("revoke-tokens", scope="all")
            wait_for(lambda: sim.stats()["revoked_grants"] >= TOKENS // 3, timeout=60, what="a third revoked")
            sim.update_options(error_rate=1.0)
            down_at = time.monotonic()
            slowed = wait_for(
                lambda: [e for e in engine.entries(run_id) if (e.data or {}).get("retrying")],
                timeout=60,
                what="the timeline to say the revocation slowed down",
            )
            time.sleep(max(0.0, PROVIDER_OUTAGE - (time.monotonic() - down_at)))
            during, _ = _ledger(engine)
            revoked_during = sim.stats()["revoked_grants"]
            sim.update_options(error_rate=0.0)
            up_at = time.monotonic()
            result = engine.finished(run_id, timeout=120)
            done_at = time.monotonic()
            entries = engine.entries(run_id)
            after, reclaimed = _ledger(engine)
    assert during.get("failed", 0) == 0 and during.get("grant_lost", 0) == 0, during
    assert revoked_during < TOKENS, "the outage began after the revocation ended"
    assert result["status"] == "succeeded", result["detail"]["revoke"]["error"]
    output = result["detail"]["revoke"]["output"]
    tally = {k: output[k] for k in ("total", "revoked", "already_dead", "failed", "pending")}
    assert tally == {"total": TOKENS, "revoked": TOKENS, "already_dead": 0, "failed": 0, "pending": 0}
    assert after == {"revoked": TOKENS}
    stats = sim.stats()
    refused = [t for t in tokens if sim.revoke_failures(t["access_token"])]
    calls = Counter(sim.revoke_calls(t["access_token"]) for t in tokens)
    assert stats["revoke_answered_5xx"] > 0 and refused, "no revoke met the outage"
    assert calls == {1: TOKENS}, f"revoke requests that reached TikTok per token: {calls}"
    assert stats["tokens_revoked_more_than_once"] == 0
    assert all(sim.is_grant_revoked(t["access_token"]) for t in tokens)
    kinds = _kinds(entries)
    assert kinds.count("revocation.started") == 1 and kinds.count("revocation.finished") == 1
    finished = entries[kinds.index("revocation.finished")]
    assert (finished.data["revoked"], finished.data["failed"]) == (TOKENS, 0)
    first_slowed = next(i for i, e in enumerate(entries) if e.seq == slowed[0].seq)
    assert kinds.index("revocation.started") < first_slowed < kinds.index("revocation.finished")
    assert set(slowed[0].data["retrying"]) <= {"internal_error", "unexpected_answer"}, slowed[0].data
    assert reclaimed > 0  # the relay sent the batches of the waiting tokens again
    _figure(
        "tiktok-5xx-outage",
        tokens=TOKENS,
        revoked=output["revoked"],
        failed=output["failed"],
        answered_5xx=stats["revoke_answered_5xx"],
        tokens_refused_by_5xx=len(refused),
        resent_after_5xx=sum(1 for t in refused if sim.revoke_calls(t["access_token"]) == 1),
        sent_twice_after_200=stats["tokens_revoked_more_than_once"],
        reclaimed_by_relay=reclaimed,
        outage_s=round(up_at - down_at, 1),
        recovery_to_done_s=round(done_at - up_at, 1),
    )


@pytest.mark.slow
@pytest.mark.parametrize("slack_down", ["5xx", "refuse"])
def test_slack_and_smtp_down_then_every_message_delivered_once(
    tmp_path: Path, slack_down: Literal["5xx", "refuse"]
) -> None:
    """Notifications wait for Slack and SMTP to return; containment does not wait for them."""
    smtp_port = free_port()
    box = Mailbox()
    with (
        TikTokSimulator(SimulatorOptions(client_secret=CLIENT_SECRET, seed=9)) as sim,
        slack_standin(BOT_TOKEN) as slack,
    ):
        tokens = _inventory(tmp_path / "tokens.jsonl", sim, 200)
        security = slack.dispatch("conversations.create", {"name": "security"})["channel"]["id"]
        with mailbox(smtp_port, box):
            assert smtp_up(smtp_port)
        with running_engine(
            tmp_path,
            {"outage-compromise": OUTAGE_PLAYBOOK.replace("SECURITY_CHANNEL", security)},
            tiktok_api_base=sim.base_url,
            tiktok_client_key=sim.options.client_key,
            tiktok_revoke_rate=0,
            token_inventory=str(tmp_path / "tokens.jsonl"),
            slack_bot_token=BOT_TOKEN,
            slack_api_url=slack.url,
            slack_card_min_interval_seconds=1,
            smtp_url=f"smtp://127.0.0.1:{smtp_port}",
            smtp_from="ir@app.example",
            tiktok_report_to=REPORT_TO,
        ) as engine:
            incident = engine.open_incident("TikTok client secret in a build log")
            slack.outage(slack_down)  # SMTP is already stopped: both are down from here
            down_at = time.monotonic()
            run_id = engine.start("outage-compromise", incident_id=incident)

            def contained_and_tried() -> bool:
                entries = engine.entries(incident)
                return "revocation.finished" in _kinds(entries) and all(
                    _step_entries(entries, "step.failed", step) for step in NOTIFY_STEPS[:-1]
                )

            wait_for(contained_and_tried, timeout=60, what="containment and a failed try of each notice")
            with engine.runtime.store.unit_of_work() as session:
                engaged_during = switch.status(session).engaged
            revoked_during = sim.stats()["revoked_grants"]
            delivered_during = (len(box.received()), sum(len(m) for m in slack.messages.values()))
            time.sleep(max(0.0, PROVIDER_OUTAGE - (time.monotonic() - down_at)))
            slack_5xx = slack.failed_calls()
            slack.outage(None)
            with mailbox(smtp_port, box):
                up_at = time.monotonic()
                result = engine.finished(run_id, timeout=60)
                done_at = time.monotonic()
                assert result["status"] == "succeeded", result["detail"]
                room = result["detail"]["room"]["output"]
                wait_for(
                    lambda: "delivered" in json.dumps(slack.messages[room["channel_id"]][room["card_ts"]]),
                    timeout=30,
                    what="the card to show the report delivered",
                )
            entries = engine.entries(incident)
    assert (engaged_during, revoked_during, delivered_during) == (True, len(tokens), (0, 0))
    assert set(result["steps"].values()) == {"succeeded"}
    every = [(c, m["thread_ts"], m["text"]) for c, ms in slack.messages.items() for m in ms.values()]
    ended = [p for p in every if p[2].startswith(f"✅ Playbook *outage-compromise* (`{run_id}`")]
    assert len(ended) <= 1, ended  # the room is told the run's end once (it may still be on its way)
    posted = [p for p in every if p not in ended]
    expected_posts = {
        (security, None, f"Disconnecting {incident} from TikTok"),
        (room["channel_id"], room["card_ts"], f"Disconnect complete: {len(tokens)} tokens revoked"),
    }
    assert expected_posts <= set(posted) and len(posted) == 3, posted  # the two posts and the card
    assert len(slack.answered("conversations.create")) == 1 and len(slack.answered("pins.add")) == 1
    mail = Counter((tuple(rcpt), m["Message-ID"]) for rcpt, m in box.received())
    assert sorted(rcpt for rcpt, _ in mail) == sorted([(REPORT_TO,), (TEAM,)]) and set(mail.values()) == {1}
    kinds = _kinds(entries)
    for step, delivered in [
        ("announce", "slack.posted"),
        ("room", "slack.channel_opened"),
        ("report", "report.delivered"),
        ("mail_team", "email.sent"),
    ]:
        failed = _step_entries(entries, "step.failed", step)
        assert all(entries[i].data["retryable"] for i in failed), [entries[i].data for i in failed]
        assert failed[0] < _step_entries(entries, "step.succeeded", step)[0]
        assert failed[-1] < max(i for i, e in enumerate(entries) if e.kind == delivered)
    assert kinds.count("report.failed") >= 1 and kinds.count("report.delivered") == 1
    assert kinds.count("slack.posted") == 2 and kinds.count("email.sent") == 1
    contained = kinds.index("revocation.finished")
    assert kinds.index("switch.engaged") < contained < kinds.index("slack.posted")
    assert contained < kinds.index("report.delivered") and contained < kinds.index("email.sent")
    failed_tries = Counter(e.data["step"] for e in entries if e.kind == "step.failed")
    _figure(
        f"slack-{slack_down}-and-smtp-down",
        messages_expected=len(expected_posts) + 1 + 2,  # two posts and the card; two emails
        delivered=len(posted) + sum(mail.values()),
        duplicates=(len(posted) - len(set(posted))) + sum(n - 1 for n in mail.values()),
        slack_failed_tries=failed_tries["announce"] + failed_tries["room"],
        slack_5xx_answered=slack_5xx,
        smtp_failed_tries=failed_tries["report"] + failed_tries["mail_team"],
        report_failed_entries=kinds.count("report.failed"),
        outage_s=round(up_at - down_at, 1),
        recovery_to_delivered_s=round(done_at - up_at, 1),
    )
