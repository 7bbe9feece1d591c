"""Run a drill: the real shipped playbook against a stage of its own, measured against SLOs.

A drill fires a critical compromise (labelled ``drill``), waits for the kill switch, the end
of the revocation and the report to TikTok, and measures each from the moment of awareness.
The result is kept on the main store's ``drills`` timeline chain, so a team sees its
disconnect times trend over weeks; the drill's own store, postmortem and compliance report
stay in its folder, every one marked as a drill.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from orchestrator import clock
from orchestrator.drill.people import Answer, manual_steps, rehearse_people
from orchestrator.drill.stage import Stage
from orchestrator.errors import OrchestratorError
from orchestrator.revocation.models import LedgerRow
from orchestrator.store.db import Store
from orchestrator.timeline import service as timeline

__all__ = ["DRILL_CHAIN", "DrillResult", "Slo", "history", "record", "run_drill"]

DRILL_CHAIN = "drills"


@dataclass(frozen=True)
class Slo:
    """A target in seconds from awareness; None means not measured."""

    name: str
    target_s: float
    measured_s: float | None

    @property
    def met(self) -> bool:
        return self.measured_s is not None and self.measured_s <= self.target_s


@dataclass
class DrillResult:
    """Everything a drill measured."""

    started_at: str
    tokens: int
    playbook: str
    incident_id: str
    folder: str
    slos: list[Slo] = field(default_factory=list)
    revocation_latency_s: dict[str, float] = field(default_factory=dict)
    revoked: int = 0
    people: list[dict[str, Any]] = field(default_factory=list)  # PersonTime.as_dict() per manual step

    @property
    def passed(self) -> bool:
        return all(slo.met for slo in self.slos)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["slos"] = [{**asdict(s), "met": s.met} for s in self.slos]
        data["passed"] = self.passed
        return data


def _seconds(later: str | None, earlier: str) -> float | None:
    if not later:
        return None
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def run_drill(
    *,
    tokens: int,
    targets: dict[str, float],
    playbook: str,
    folder: Path,
    extra_env: dict[str, str],
    report_wait_s: float,
    with_people: bool = False,
    answer: Answer | None = None,
    people_wait_s: float = 1800.0,
) -> DrillResult:
    """Rehearse on a fresh stage; ``targets`` maps disconnect/revoke/report to seconds. With
    people, each manual step is asked (``answer``; None: in Slack) and its Done timed."""
    # The stage inherits no ORCH_* setting: real Slack, SMTP or TikTok only if drill.env names them.
    with Stage(folder, tokens=tokens, extra_env=extra_env) as stage:
        try:
            shown = json.loads(stage.cli("playbook", "show", playbook))
        except json.JSONDecodeError:
            raise OrchestratorError(f"no playbook named '{playbook}' to rehearse") from None
        reports = "tiktok.report" in json.dumps(shown["steps"])
        stage.post_event(
            {
                "title": "DRILL: TikTok client secret leaked (rehearsal)",
                "kind": "credential.leak",
                "severity": "critical",
                "dedup_key": f"drill-{clock.utcnow().timestamp():.0f}",
                "labels": {"drill": "true"},
                "entities": {"open_ids": [stage.records[0]["open_id"]]},
            }
        )
        incident = stage.wait("the drill incident", lambda: stage.get("/v1/incidents")["incidents"][0], 60)
        path = f"/v1/incidents/{incident['id']}"
        stage.wait(
            "the kill switch", lambda: stage.get(path)["disconnected_at"], max(targets["disconnect"] * 5, 60)
        )
        stage.wait("the revocation", lambda: stage.get(path)["revoked_at"], max(targets["revoke"] * 3, 120))
        if reports:
            with contextlib.suppress(OrchestratorError):  # not delivered in time: that SLO is missed
                stage.wait("the report to TikTok", lambda: stage.get(path)["reported_at"], report_wait_s)
        final = stage.get(path)
        aware = final["aware_at"]
        people = (
            rehearse_people(
                stage,
                incident_id=final["id"],
                aware_at=aware,
                steps=manual_steps(shown),
                answer=answer,
                timeout_s=people_wait_s,
            )
            if with_people
            else []
        )
        latencies = _ledger_latencies(folder, datetime.fromisoformat(aware))
    result = DrillResult(
        started_at=aware,
        tokens=tokens,
        playbook=playbook,
        incident_id=final["id"],
        folder=str(folder),
        revoked=len(latencies),
        people=[p.as_dict() for p in people],
    )
    measured = [("disconnect", "disconnected_at"), ("revoke", "revoked_at")]
    if reports:  # a playbook without a report step has no report to time
        measured.append(("report", "reported_at"))
    for name, column in measured:
        result.slos.append(Slo(name=name, target_s=targets[name], measured_s=_seconds(final[column], aware)))
    if latencies:
        result.revocation_latency_s = {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99)}
    return result


def _ledger_latencies(folder: Path, aware: datetime) -> list[float]:
    store = Store(f"sqlite:///{(folder / 'data' / 'orchestrator.sqlite').resolve()}")
    try:
        with store.unit_of_work() as session:
            times = session.scalars(select(LedgerRow.updated_at).where(LedgerRow.status == "revoked"))
            return [(t - aware).total_seconds() for t in times if t is not None]
    finally:
        store.dispose()


def record(store: Store, result: DrillResult) -> None:
    """Keep the result on the main store's drills chain (append-only, hash-chained)."""
    with store.unit_of_work() as session:
        verdict = "passed" if result.passed else "missed an SLO"
        timeline.append_entry(
            session,
            chain=DRILL_CHAIN,
            actor="drill",
            kind="drill.finished",
            message=f"Drill {verdict}: {result.tokens} tokens, playbook {result.playbook}",
            data=result.as_dict(),
        )


def history(store: Store, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest drill results, oldest first."""
    with store.unit_of_work() as session:
        rows = [e for e in timeline.entries(session, DRILL_CHAIN) if e.kind == "drill.finished"]
        return [dict(e.data, at=e.at.isoformat()) for e in rows[-limit:]]
