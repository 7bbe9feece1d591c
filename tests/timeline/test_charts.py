"""The incident's pictures: points on the time axis at their times, the targets as lines, the
revocation's progress with a mark where TikTok was failing; plain SVG, nothing external."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

from orchestrator.timeline import charts, kinds
from orchestrator.timeline.figures import Record, duration_text
from orchestrator.timeline.models import TimelineEntryRow
from orchestrator.worker.runtime import Runtime
from tests.timeline.story import T0, build_incident
from tests.timeline.test_lifecycle import _cli

SVG = "{http://www.w3.org/2000/svg}"
TARGETS = charts.clause_targets(disconnect_minutes=60, report_minutes=1440)


def test_time_axis_places_each_key_time_and_draws_each_target(record: Record) -> None:
    svg = ET.fromstring(charts.time_axis_svg(record, TARGETS))
    points = {c.get("data-key"): float(c.get("data-seconds") or 0) for c in svg.iter(f"{SVG}circle")}
    assert points == {
        "aware_at": 0.0,
        "disconnected_at": 120.0,
        "revoked_at": 480.0,
        "reported_at": 93600.0,
        "resolved_at": 97200.0,
    }
    xs = {c.get("data-key"): float(c.get("cx") or 0) for c in svg.iter(f"{SVG}circle")}
    assert xs["aware_at"] < xs["disconnected_at"] < xs["revoked_at"] < xs["reported_at"] < xs["resolved_at"]
    lines = [
        (line.get("data-seconds"), line.get("x1"))
        for line in svg.iter(f"{SVG}line")
        if line.get("class") == "target"
    ]
    ticks = {
        line.get("data-seconds"): line.get("x1")
        for line in svg.iter(f"{SVG}line")
        if line.get("class") == "tick"
    }
    assert lines == [("3600", ticks["3600"]), ("86400", ticks["86400"])]
    text = "".join(svg.itertext())
    assert "III.2(f) disconnect target (60 min)" in text and "reported +26 h" in text


def test_progress_shows_tokens_settled_over_time_and_marks_tiktok_failing(record: Record) -> None:
    failing = TimelineEntryRow(
        seq=99,
        at=T0 + timedelta(minutes=6, seconds=30),
        actor="revocation",
        kind=kinds.REVOCATION_PROGRESS,
        message="Revocation slowed",
        data={"revocation_id": "rev-1", "done": 300, "retrying": {"rate_limit_exceeded": 40}},
        prev_hash="",
        hash="",
    )
    entries = sorted([*record.entries, failing], key=lambda e: e.at)
    svg = ET.fromstring(charts.progress_svg(Record(record.incident, entries, None)) or "")
    [line] = list(svg.iter(f"{SVG}polyline"))
    heights = [float(pair.split(",")[1]) for pair in (line.get("points") or "").split()]
    assert len(heights) == 4 and heights == sorted(heights, reverse=True)  # 0, 25 %, 50 %, 100 %: rising
    [mark] = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "throttled"]
    assert "rate_limit_exceeded x40" in "".join(mark.itertext())
    assert charts.progress_svg(Record(record.incident, record.entries[:3], None)) is None


def test_pictures_load_nothing_and_run_nothing(record: Record) -> None:
    whole = charts.figures_svg(record, TARGETS)
    assert whole.startswith("<svg ") and not re.search(r"<script|href=|url\(|@import", whole)
    ET.fromstring(whole)


def test_durations_read_in_the_unit_that_fits() -> None:
    assert [duration_text(s) for s in (0.043, 1.25, 59.9, 754.0, 93600.0)] == [
        "43 ms",
        "1.2 s",
        "59.9 s",
        "12.6 min",
        "26 h",
    ]
    assert duration_text(None) == "-"


def test_postmortem_written_to_a_file_gets_its_picture_beside_it(runtime: Runtime, tmp_path: Path) -> None:
    incident_id = build_incident(runtime.store)
    written = _cli(runtime, tmp_path, "postmortem", incident_id, "-o", str(tmp_path / "pm.md"))
    assert written.returncode == 0, written.stderr
    assert "![Time axis and revocation progress](pm.svg)" in (tmp_path / "pm.md").read_text()
    picture = ET.fromstring((tmp_path / "pm.svg").read_text())
    assert {g.get("class") for g in picture.iter(f"{SVG}g")} == {"time-axis", "progress"}
