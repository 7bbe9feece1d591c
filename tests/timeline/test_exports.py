"""Exports of a full incident: JSON fits its schema, Markdown and postmortem have every section,
the compliance report shows met and missed clauses with the figures, drills are marked."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema

from orchestrator.incidents.models import IncidentRow
from orchestrator.timeline import kinds
from orchestrator.timeline import service as timeline
from orchestrator.timeline.compliance import (
    assess,
    render_compliance_json,
    render_compliance_markdown,
    scan_for_secrets,
)
from orchestrator.timeline.export import (
    MARKDOWN_SECTIONS,
    SCHEMA_VERSION,
    export_json,
    render_html,
    render_markdown,
    render_text,
)
from orchestrator.timeline.figures import Record, impact, key_figures, load_record
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.timeline.postmortem import POSTMORTEM_SECTIONS, render_postmortem
from orchestrator.timeline.service import ChainBreak
from orchestrator.worker.runtime import Runtime
from tests.timeline.story import ALL_KINDS, T0, build_incident

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "timeline.schema.json").read_text())
NOW = T0 + timedelta(days=3)


def test_the_story_uses_every_kind_of_the_contract(record: Record) -> None:
    assert {entry.kind for entry in record.entries} == ALL_KINDS
    assert record.chain_break is None


def test_json_export_validates_against_its_versioned_schema(record: Record) -> None:
    data = export_json(record, generated_at=NOW)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["chain"] == {
        "verified": True,
        "entries": len(record.entries),
        "head_hash": record.entries[-1].hash,
        "first_break": None,
    }
    assert data["durations"]["awareness_to_disconnect_s"] == 120.0
    assert data["durations"]["awareness_to_report_s"] == 26 * 3600.0
    assert [e["seq"] for e in data["entries"]] == list(range(1, len(record.entries) + 1))


def test_json_export_of_a_broken_chain_names_the_break_and_still_validates(record: Record) -> None:
    broken = Record(
        record.incident, record.entries, ChainBreak(3, "content does not match its hash (edited)")
    )
    data = export_json(broken, generated_at=NOW)
    jsonschema.validate(data, SCHEMA)
    assert data["chain"]["first_break"] == {"seq": 3, "reason": "content does not match its hash (edited)"}


def test_markdown_has_every_section_and_every_entry(record: Record) -> None:
    text = render_markdown(record, generated_at=NOW)
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(MARKDOWN_SECTIONS)
    rows = [
        line for line in text.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert len(rows) == len(record.entries)
    assert "Pipe \\| in a note \\| stays one cell" in text
    assert "- Awareness to disconnect: 2 min" in text


def test_postmortem_has_every_section_with_impact_times_and_actors(record: Record) -> None:
    text = render_postmortem(
        record, generated_at=NOW, disconnect_target_minutes=60, report_target_minutes=1440
    )
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(POSTMORTEM_SECTIONS)
    for line in (
        "- Tokens revoked: **1100**",
        "- Tokens already dead (expired, revoked or unknown to TikTok): **80**",
        "- Tokens failed to revoke: **20** (server_error: 20)",
        "- Revocations finished: 1; scope: all",
        "- Alarms: grant_lost x2",
        "- Purged: 1200 tokens deleted; records deleted: tiktok_profiles: 12, tiktok_videos: 30",
        "- Awareness to disconnect: **2 min (target 60 min)**",
        "- Awareness to report: **26 h (target 1440 min)**",
        "| slack:U042ALICE | 5 | approval.decided, report.delivered, note, status.update, switch.released |",
        "Secret rotated, every token revoked.",
        "- [ ] _Action, owner, due date_",
    ):
        assert line in text, line
    assert "(DRILL)" not in text


def test_compliance_report_shows_met_and_missed_clauses_with_figures(record: Record) -> None:
    report = assess(record, disconnect_target_minutes=60, report_target_minutes=1440, now=NOW)
    got = {(c.clause, c.title): (c.status, c.measured, c.target) for c in report.clauses}
    assert got == {
        ("III.2(f)", "Disconnect immediately"): ("met", "2 min", "60 min"),
        ("III.2(f)", "Report immediately"): ("missed", "26 h", "1440 min"),
        ("IV", "Confidentiality"): ("met", "0 findings", "0 findings"),
        ("VI", "Deletion"): ("met", "1200 tokens deleted", "purge finished"),
        ("III.3(g)", "Request volume"): ("met", "100 % of the limit", "<= 100 % of the limit in force"),
    }
    report_clause = report.clauses[1]
    assert "2 h over the target" in report_clause.detail
    seqs = {e.kind: e.seq for e in record.entries}
    assert report_clause.evidence == [
        seqs[kinds.INCIDENT_OPENED],
        seqs[kinds.REPORT_FAILED],
        seqs[kinds.REPORT_DELIVERED],
    ]
    markdown = render_compliance_markdown(report)
    assert "| III.2(f) | Report immediately | **MISSED** | 26 h | 1440 min |" in markdown
    assert "| III.2(f) | Disconnect immediately | **MET** | 2 min | 60 min |" in markdown
    assert json.loads(render_compliance_json(report))["clauses"][1]["status"] == "missed"


def test_compliance_of_an_open_incident_past_its_target_is_missed_and_before_it_pending(
    record: Record,
) -> None:
    bare = IncidentRow(id="inc-open", title="open", is_drill=False, aware_at=T0)
    opened = Record(bare, record.entries[:1], None)
    late = assess(
        opened, disconnect_target_minutes=60, report_target_minutes=1440, now=T0 + timedelta(hours=2)
    )
    early = assess(
        opened, disconnect_target_minutes=60, report_target_minutes=1440, now=T0 + timedelta(minutes=5)
    )
    assert [(c.status, c.measured) for c in late.clauses[:2]] == [
        ("missed", "not yet (2 h)"),
        ("pending", "not yet (2 h)"),
    ]
    assert "60 min over the target" in late.clauses[0].detail
    assert [c.status for c in early.clauses] == [
        "pending",
        "pending",
        "met",
        "not_applicable",
        "not_applicable",
    ]


def test_a_token_in_the_timeline_misses_confidentiality_without_repeating_it() -> None:
    leaked = TimelineEntryRow(
        seq=1,
        at=T0,
        actor="system",
        kind="note",
        message="used act.LEAKEDLEAKED123!4.va",
        data={"x": 1},
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    keyed = TimelineEntryRow(
        seq=2,
        at=T0,
        actor="system",
        kind="note",
        message="ok",
        data={"nested": {"client_secret": "s3cr3t!"}},
        prev_hash="1" * 64,
        hash="2" * 64,
    )
    record = Record(
        IncidentRow(id="inc-leak", title="leak", is_drill=False, aware_at=T0), [leaked, keyed], None
    )
    assert scan_for_secrets(record) == [(1, "message"), (2, "data.nested.client_secret")]
    report = assess(record, disconnect_target_minutes=60, report_target_minutes=1440, now=T0)
    clause = report.clauses[2]
    assert (clause.clause, clause.status, clause.evidence) == ("IV", "missed", [1, 2])
    assert "LEAKED" not in render_compliance_markdown(report) and "s3cr3t" not in render_compliance_json(
        report
    )


def test_a_ticket_filed_in_tiktoks_portal_is_the_evidence_of_reporting(record: Record) -> None:
    opened = next(entry for entry in record.entries if entry.kind == kinds.INCIDENT_OPENED)
    filed = TimelineEntryRow(
        seq=opened.seq + 1,
        at=T0 + timedelta(minutes=30),
        actor="slack:U042ALICE",
        kind=kinds.MANUAL_COMPLETED,
        message="slack:U042ALICE completed file_tiktok_report",
        data={
            "run_id": "run-1",
            "step": "file_tiktok_report",
            "by": "slack:U042ALICE",
            "input": {"ticket_id": "TT-48213"},
            "evidence": "report",
            "evidence_value": "TT-48213",
        },
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    unreported = Record(record.incident, [opened], None)
    ticketed = Record(record.incident, [opened, filed], None)
    before = assess(unreported, disconnect_target_minutes=60, report_target_minutes=60, now=NOW).clauses[1]
    after = assess(ticketed, disconnect_target_minutes=60, report_target_minutes=60, now=NOW).clauses[1]
    assert (before.status, "TT-48213" in before.detail) == ("missed", False)
    assert (after.status, after.measured, after.evidence) == ("met", "30 min", [opened.seq, filed.seq])
    assert "evidence of reporting: TikTok support ticket TT-48213 recorded by slack:U042ALICE" in after.detail
    markdown = render_compliance_markdown(
        assess(ticketed, disconnect_target_minutes=60, report_target_minutes=60, now=NOW)
    )
    assert "TikTok support ticket TT-48213" in markdown


def _changed(record: Record, kind: str, **data: object) -> Record:
    """The record with ``data`` changed in every entry of ``kind`` (hashes left as they were)."""
    entries = [
        TimelineEntryRow(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            kind=e.kind,
            message=e.message,
            data={**e.data, **data} if e.kind == kind else e.data,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in record.entries
    ]
    return Record(record.incident, entries, None)


def test_request_volume_over_the_limit_is_missed_by_how_much(record: Record) -> None:
    report = assess(
        _changed(record, kinds.REVOCATION_FINISHED, duration_ms=60000),
        disconnect_target_minutes=60,
        report_target_minutes=1440,
        now=NOW,
    )
    volume = report.clauses[4]
    assert (volume.status, volume.measured) == ("missed", "200 % of the limit")
    assert (
        "1200 requests in 60 s = 20.0/s (limit in force 10/s)" in volume.detail
        and "100 % over the limit" in volume.detail
    )


def test_request_volume_without_a_limit_in_force_is_not_judged_against_one_it_did_not_use(
    record: Record,
) -> None:
    report = assess(
        _changed(record, kinds.REVOCATION_STARTED, rate_per_s=0),
        disconnect_target_minutes=60,
        report_target_minutes=1440,
        now=NOW,
    )
    volume = report.clauses[4]
    assert (volume.status, volume.measured) == ("not_applicable", "no limit in force")
    assert volume.detail.startswith(
        "rev-1: 1200 requests in 120 s = 10.0/s with no client-side limit in force (rate 0: a simulator "
        "or benchmark), not judged; against TikTok's documented 600/min it would be 100 %"
    )


def test_drills_are_marked_in_every_export(runtime: Runtime) -> None:
    incident_id = build_incident(runtime.store, incident_id="inc-drill0000001", drill=True)
    with runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=incident_id)
    assert export_json(record, generated_at=NOW)["is_drill"] is True
    assert render_markdown(record, generated_at=NOW).startswith("# Timeline (DRILL): ")
    assert render_postmortem(record, generated_at=NOW).startswith("# Postmortem (DRILL): ")
    report = assess(record, disconnect_target_minutes=60, report_target_minutes=1440, now=NOW)
    assert render_compliance_markdown(report).startswith("# Compliance report (DRILL): ")
    assert render_text(record).splitlines()[0].endswith("[DRILL]")
    assert 'id="drill-badge">DRILL</span>' in render_html(record, generated_at=NOW)


def test_key_figures_fall_back_to_the_evidencing_entries(record: Record) -> None:
    bare = IncidentRow(id=record.incident.id, title="t", is_drill=False, aware_at=T0)
    figures = key_figures(Record(bare, record.entries, None))
    seqs = {e.kind: e.seq for e in record.entries}
    assert figures.times["disconnected_at"] == T0 + timedelta(minutes=2)
    assert figures.evidence["disconnected_at"] == seqs[kinds.SWITCH_ENGAGED]
    assert figures.awareness_to_report == timedelta(hours=26)
    assert impact(record).revoked == 1100


def test_html_export_is_offline_and_escapes_text(record: Record) -> None:
    page = render_html(record, generated_at=NOW)
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "<script src" not in page and "<link" not in page
    assert page.count('class="entry"') == len(record.entries)


HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_markdown_exports_show_html_from_titles_and_notes_as_text(runtime: Runtime) -> None:
    incident_id = build_incident(runtime.store)
    with runtime.store.unit_of_work() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.title, row.summary = f"Leak {HOSTILE}", f"Found by {HOSTILE}"
        timeline.append_entry(session, chain=incident_id, actor="slack:U1", kind=kinds.NOTE, message=HOSTILE)
    with runtime.store.unit_of_work() as session:
        record = load_record(session, incident_id=incident_id)
    exports = {
        "timeline": render_markdown(record, generated_at=NOW),
        "postmortem": render_postmortem(record, generated_at=NOW),
        "compliance": render_compliance_markdown(
            assess(record, disconnect_target_minutes=60, report_target_minutes=1440, now=NOW)
        ),
    }
    raw = {name: [tag for tag in ("<script", "<img") if tag in text] for name, text in exports.items()}
    assert raw == {"timeline": [], "postmortem": [], "compliance": []}
    assert all("&lt;script&gt;alert(1)&lt;/script&gt;" in text for text in exports.values())
