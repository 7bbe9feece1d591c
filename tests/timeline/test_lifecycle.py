"""Resolve and close need a summary, set their times and status, and land on the timeline;
the CLI writes every export of the incident from the store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator.errors import ValidationFailed
from orchestrator.incidents import lifecycle
from orchestrator.incidents.models import IncidentRow
from orchestrator.timeline import kinds
from orchestrator.timeline.service import entries, verify_chain
from orchestrator.worker.runtime import Runtime
from tests.support.processes import orchestrator_env
from tests.support.runtime import API_TOKEN
from tests.timeline.story import ENTRIES, T0, build_incident


def _open(runtime: Runtime, incident_id: str = "inc-life00000001") -> str:
    with runtime.store.unit_of_work() as session:
        session.add(
            IncidentRow(
                id=incident_id,
                dedup_key="k",
                title="t",
                kind="host.compromise",
                severity="high",
                status="contained",
                source="falco",
                entities={},
                event_count=1,
                resolved_signals=0,
                is_drill=False,
                aware_at=T0,
                last_event_at=T0,
            )
        )
    return incident_id


def test_resolve_then_close_set_times_status_and_entries(runtime: Runtime) -> None:
    incident_id = _open(runtime)
    with runtime.store.unit_of_work() as session:
        lifecycle.resolve_incident(
            session,
            incident_id=incident_id,
            summary="  Contained. ",
            actor="cli:bob",
            now=T0 + timedelta(hours=1),
        )
        lifecycle.close_incident(
            session,
            incident_id=incident_id,
            summary="Reviewed.",
            actor="cli:bob",
            now=T0 + timedelta(hours=2),
        )
    with runtime.store.unit_of_work() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        assert (row.status, row.resolved_at, row.closed_at, row.summary) == (
            "closed",
            T0 + timedelta(hours=1),
            T0 + timedelta(hours=2),
            "Contained.\n\nReviewed.",
        )
        assert [(e.kind, e.actor, e.data) for e in entries(session, incident_id)] == [
            (kinds.INCIDENT_RESOLVED, "cli:bob", {"summary": "Contained."}),
            (kinds.INCIDENT_CLOSED, "cli:bob", {"summary": "Reviewed."}),
        ]
        assert verify_chain(session, incident_id) is None


def test_resolve_needs_a_summary_and_close_needs_a_resolved_incident(runtime: Runtime) -> None:
    incident_id = _open(runtime)
    with runtime.store.unit_of_work() as session:
        with pytest.raises(ValidationFailed, match="a summary is required"):
            lifecycle.resolve_incident(session, incident_id=incident_id, summary=" ", actor="cli", now=T0)
        with pytest.raises(ValidationFailed, match="resolve it first"):
            lifecycle.close_incident(session, incident_id=incident_id, summary="x", actor="cli", now=T0)


def _cli(runtime: Runtime, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = orchestrator_env(
        runtime.settings.data_dir, api_token=API_TOKEN, compliance_report_target_minutes="2000"
    )
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=env,
        timeout=60,
    )


def test_cli_resolves_and_writes_every_export(runtime: Runtime, tmp_path: Path) -> None:
    incident_id = _open(runtime)
    resolved = _cli(runtime, tmp_path, "incident", "resolve", incident_id, "--summary", "Contained by drill.")
    assert (resolved.returncode, resolved.stdout) == (0, f"{incident_id}: resolved\n"), resolved.stderr
    missing = _cli(runtime, tmp_path, "incident", "close", incident_id)
    assert missing.returncode == 2 and "Missing option '--summary'" in missing.stderr

    story = build_incident(runtime.store)
    out = tmp_path / "story.json"
    written = _cli(runtime, tmp_path, "timeline", story, "--format", "json", "-o", str(out))
    assert written.returncode == 0, written.stderr
    assert json.loads(out.read_text())["chain"]["verified"] is True
    html = tmp_path / "story.html"
    assert (
        _cli(runtime, tmp_path, "timeline", story, "--format", "html", "--output", str(html)).returncode == 0
    )
    assert html.read_text().count('class="entry"') == ENTRIES
    compliance = json.loads(_cli(runtime, tmp_path, "compliance", story, "--format", "json").stdout)
    # ORCH_COMPLIANCE_REPORT_TARGET_MINUTES=2000 moves the report clause from missed to met.
    assert [(c["title"], c["status"], c["target"]) for c in compliance["clauses"][:2]] == [
        ("Disconnect immediately", "met", "60 min"),
        ("Report immediately", "met", "2000 min"),
    ]
    postmortem = _cli(runtime, tmp_path, "postmortem", story)
    assert postmortem.stdout.startswith("# Postmortem: ") and "## Follow-ups" in postmortem.stdout
