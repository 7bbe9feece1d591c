"""The incident card and the release modal: pure Block Kit, buttons as Slack expects them."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.chatops import cards
from orchestrator.chatops.names import Names
from orchestrator.proof.summary import Exposure
from orchestrator.timeline.checkpoints import Checkpoint

AWARE = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)


def _state(**changes: object) -> cards.CardState:
    base: dict[str, object] = {
        "incident_id": "inc-1",
        "title": "Leak with access_token=act.SECRETSECRET1234 in a log",
        "severity": "critical",
        "status": "contained",
        "switch_engaged": True,
        "aware_at": AWARE,
        "disconnected_at": AWARE.replace(minute=1),
    }
    base.update(changes)
    return cards.CardState(**base)  # type: ignore[arg-type]


def _buttons(blocks: list[dict[str, object]]) -> list[tuple[str, str]]:
    found = []
    for block in blocks:
        if block["type"] == "actions":
            found += [(e["action_id"], e["value"]) for e in block["elements"]]  # type: ignore[attr-defined]
    return found


def test_card_shows_state_times_and_redacts_the_title() -> None:
    text, blocks = cards.incident_card(
        _state(
            revocation=cards.Revocation(
                done=40, total=100, revoked=35, already_dead=4, failed=1, finished=False
            )
        )
    )
    rendered = str(blocks)
    assert text.startswith("🔴 CRITICAL incident inc-1")
    assert "SECRETSECRET" not in rendered + text
    assert "ENGAGED" in rendered and "2026-11-26 17:01:00 UTC" in rendered
    assert "in progress: 40/100 (revoked 35, already dead 4, failed 1)" in rendered


def test_engaged_switch_offers_release_and_released_offers_engage() -> None:
    assert _buttons(cards.incident_card(_state())[1]) == [("ir_release", "inc-1"), ("ir_timeline", "inc-1")]
    assert _buttons(cards.incident_card(_state(switch_engaged=False))[1]) == [
        ("ir_engage", "inc-1"),
        ("ir_timeline", "inc-1"),
    ]


def test_pending_approvals_get_approve_and_deny_buttons() -> None:
    pending = cards.PendingApproval(run_id="run-abc", step_id="disconnect", playbook="suspicion")
    _, blocks = cards.incident_card(_state(approvals=[pending]))
    assert _buttons(blocks)[:2] == [("ir_approve", "run-abc|disconnect"), ("ir_deny", "run-abc|disconnect")]


def test_release_modal_asks_for_a_reason() -> None:
    view = cards.release_modal("inc-1", "C1")
    assert view["callback_id"] == "ir_release_modal" and view["private_metadata"] == "inc-1|C1"
    assert view["blocks"][1]["block_id"] == "reason"
    assert view["blocks"][1]["element"]["action_id"] == "reason_input"


def test_card_shows_the_exposure_census_and_an_escalation() -> None:
    exposure = Exposure(
        exposed_at_awareness=1000,
        still_exposed=3,
        phase="verify",
        counts={"connected": 1000, "revoked": 990, "already_dead": 7, "failed": 2, "still_live": 1},
        escalate=True,
        evidence=[],
    )
    none_yet = str(cards.incident_card(_state())[1])
    rendered = str(cards.incident_card(_state(exposure=exposure))[1])
    assert "*Exposure census*: not taken yet" in none_yet and "Escalated" not in none_yet
    assert "(after verify): exposed at awareness: 1000; still exposed now: 3" in rendered
    assert "revoked 990 · already dead 7 · failed 2 · still live 1" in rendered
    assert "🚨 *Escalated*: a revoked token still worked" in rendered


def test_manual_steps_get_a_done_button_and_a_modal_asking_for_their_input() -> None:
    pending = cards.PendingApproval(
        run_id="run-abc",
        step_id="file_tiktok_report",
        playbook="tiktok-compromise",
        manual_title="File the report",
        needs="ticket_id",
    )
    _, blocks = cards.incident_card(_state(approvals=[pending]))
    assert _buttons(blocks)[0] == ("ir_manual_done", "run-abc|file_tiktok_report")
    assert "File the report (needs its ticket_id)" in str(blocks)
    asks = cards.manual_modal(
        run_id="run-abc",
        step_id="file_tiktok_report",
        title="File the report",
        instructions="token act.SECRETSECRET1234 here",
        needs="ticket_id",
        channel_id="CROOM",
    )
    assert asks["private_metadata"] == "run-abc|file_tiktok_report|CROOM"
    assert (asks["blocks"][-1]["label"]["text"], asks["blocks"][-1]["optional"]) == ("Ticket id", False)
    assert "SECRETSECRET" not in str(asks)
    note = cards.manual_modal(
        run_id="run-abc", step_id="confirm", title="Confirm", instructions="", needs=None, channel_id=None
    )
    assert (note["blocks"][-1]["label"]["text"], note["blocks"][-1]["optional"]) == ("Note", True)


def test_card_publishes_the_latest_signed_checkpoint_outside_the_store() -> None:
    signed = Checkpoint(
        chain="inc-1",
        seq=27,
        head_hash="ab12" * 16,
        at="2026-11-26T17:03:00.000000+00:00",
        reason="milestone",
        key_fingerprint="sha256:" + "9f" * 32,
        signature="c2lnbmF0dXJl",
    )
    assert "*Evidence*" not in str(cards.incident_card(_state())[1])
    assert (
        "*Evidence* checkpoint: entry 27, head ab12ab12ab12ab12…, signed 2026-11-26T17:03:00Z by key "
        "sha256:9f9f9f9f9f9f9f9f…"
    ) in str(cards.incident_card(_state(checkpoint=signed))[1])


def test_card_names_its_lead_and_everyone_involved_capped_at_twelve() -> None:
    people = [f"U{i:03d}" for i in range(14)]
    names = Names({"U000": "Ann", **{u: f"Person {u[1:]}" for u in people[1:]}}.__getitem__)
    _, blocks = cards.incident_card(_state(lead="U000", involved=people), names)
    shown = [b["text"]["text"] for b in blocks if "Lead" in str(b)]
    listed = ", ".join(["Ann", *(f"Person {i:03d}" for i in range(1, 12))])
    assert shown == [f"*Lead*: Ann\n*Involved* (14): {listed} and 2 more"]
    _, without = cards.incident_card(_state())  # nobody yet, and no names asked for
    assert [b["text"]["text"] for b in without if "Lead" in str(b)] == [
        "*Lead*: nobody yet (`/ir lead @person`)\n*Involved* (0): nobody yet"
    ]


def test_the_card_reads_at_a_glance_title_kind_hosts_and_a_link_back_to_the_siem() -> None:
    state = _state(
        title="TikTok secret leaked",
        kind="credential.leak",
        hosts=["ci-7", "ci-8", "build-1", "build-2"],
        source="splunk",
        source_ref="https://splunk.example/app/search?sid=42&view=<x>",
    )
    text, blocks = cards.incident_card(state)
    assert blocks[0]["text"]["text"] == "🔴 TikTok secret leaked"
    assert blocks[1]["text"]["text"] == (
        "`inc-1` · `credential.leak` on ci-7, ci-8, build-1 and 1 more · from splunk · "
        "SIEM ref `https://splunk.example/app/search?sid=42&amp;view=&lt;x&gt;`"
    )  # not a clean web address: shown, never a link
    linked = cards.incident_card(_state(kind="k", source_ref="https://siem.example/a?b=1&c=2"))[1]
    assert (
        linked[1]["text"]["text"]
        == "`inc-1` · `k` · <https://siem.example/a?b=1&amp;c=2|Open the alert in the SIEM>"
    )
    assert text == "🔴 CRITICAL incident inc-1: TikTok secret leaked (contained)"


def test_a_census_taken_before_the_revocation_progress_says_when_and_does_not_read_as_now() -> None:
    """Issue 29: "in progress: 98/300" sat above a census line "revoked 0 … pending 0"."""
    exposure = Exposure(
        exposed_at_awareness=300,
        still_exposed=300,
        phase="awareness",
        counts={"connected": 300, "revoked": 0, "already_dead": 0, "failed": 0, "pending": 0},
        escalate=False,
        evidence=[],
    )
    progress = cards.Revocation(
        done=98, total=300, revoked=98, already_dead=0, failed=0, finished=False, at=AWARE.replace(second=40)
    )
    rendered = str(
        cards.incident_card(
            _state(revocation=progress, exposure=exposure, census_at=AWARE.replace(second=2))
        )[1]
    )
    assert "*Token revocation*: in progress: 98/300 as of 17:00:40 UTC (revoked 98" in rendered
    assert (
        "*Exposure census* (after awareness, a probe taken 2026-11-26 17:00:02 UTC, before the revocation"
        " progress above): exposed at awareness: 300; still exposed then: 300"
    ) in rendered
    later = str(
        cards.incident_card(
            _state(revocation=progress, exposure=exposure, census_at=AWARE.replace(minute=5))
        )[1]
    )
    assert (
        "(after awareness, a probe taken 2026-11-26 17:05:00 UTC): exposed at awareness: 300; "
        "still exposed now" in later
    )


def test_manual_steps_show_their_instructions_and_the_filing_is_told_apart_from_the_report() -> None:
    """Issue 29: "Report to TikTok ✅ delivered" sat beside a pending step to file the report."""
    filing = cards.PendingApproval(
        run_id="run-abc",
        step_id="file_tiktok_report",
        playbook="tiktok-compromise",
        manual_title="File the report",
        needs="ticket_id",
        instructions="Paste the report into the portal's <support form> & quote the log_ids.",
        files_report=True,
    )
    rotate = cards.PendingApproval(
        run_id="run-abc",
        step_id="rotate_client_secret",
        playbook="tiktok-compromise",
        manual_title="Rotate the secret",
        instructions="x" * 2000,
    )
    state = _state(
        approvals=[filing, rotate],
        report_state="✅ delivered (email)\n🖐 filing in TikTok's portal: to do by a person (below)",
    )
    blocks = cards.incident_card(state)[1]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    [filing_text] = [t for t in texts if "File the report" in t]
    assert filing_text == (
        "🖐 *To do by a person*: File the report (needs its ticket_id)\n"
        "> Paste the report into the portal's &lt;support form&gt; &amp; quote the log_ids.\n"
        "_The automatic report to TikTok is sent on its own (see *Report to TikTok*); this step is"
        " the filing in TikTok's developer portal, which no API can do: both are expected._\n"
        "step `file_tiktok_report` of tiktok-compromise (`run-abc`)"
    )
    [rotate_text] = [t for t in texts if "Rotate the secret" in t]
    assert (
        "> " + "x" * 1200 + "… (all of it under *Done*)\n" in rotate_text
        and "automatic report" not in rotate_text
    )
    report = (
        "*Report to TikTok*\n✅ delivered (email)\n🖐 filing in TikTok's portal: to do by a person (below)"
    )
    assert report in [f["text"] for f in blocks[2]["fields"]]
    assert _buttons(blocks) == [
        ("ir_manual_done", "run-abc|file_tiktok_report"),
        ("ir_manual_done", "run-abc|rotate_client_secret"),
        ("ir_release", "inc-1"),
        ("ir_timeline", "inc-1"),
    ]
