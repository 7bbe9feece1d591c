"""Run a drill: the real shipped playbook against a stage of its own, measured against SLOs.

A drill fires a critical compromise (labelled ``drill``), waits for the kill switch, the end
of the revocation and the report to TikTok, and measures each from the moment of awareness.
The result is kept on the main store's ``drills`` timeline chain, so a team sees its
disconnect times trend over weeks; the drill's own store, postmortem and compliance report
stay in its folder, every one marked as a drill.

With two apps (``orchestrator drill --two-apps``, issue 27) the leak names the first app's
client key; the drill then checks that the other app kept working, fires a host compromise
naming no app, times every app's disconnect and revocation, and fails when the apps were not
kept apart.
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
from orchestrator.drill import apps as two_apps
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
    apps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # phase -> AppState.as_dict()s
    broken: list[str] = field(default_factory=list)  # two_apps.broken_by_*: the apps not kept apart

    @property
    def passed(self) -> bool:
        return all(slo.met for slo in self.slos) and not self.broken

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
    apps: bool = False,
) -> DrillResult:
    """Rehearse on a fresh stage; ``targets`` maps disconnect/revoke/report to seconds. With
    people, each manual step is asked (``answer``; None: in Slack) and its Done timed. With
    ``apps``, two apps (``two_apps.TWO_APPS``), ``tokens`` each: the leak names the first."""
    # The stage inherits no ORCH_* setting: real Slack, SMTP or TikTok only if drill.env names them.
    stage_apps = two_apps.TWO_APPS if apps else ()
    with Stage(folder, tokens=tokens, extra_env=extra_env, apps=stage_apps) as stage:
        try:
            shown = json.loads(stage.cli("playbook", "show", playbook))
        except json.JSONDecodeError:
            raise OrchestratorError(f"no playbook named '{playbook}' to rehearse") from None
        reports = "tiktok.report" in json.dumps(shown["steps"])
        drill = {"dedup_key": f"drill-{clock.utcnow().timestamp():.0f}", "labels": {"drill": "true"}}
        leaked = stage.apps[0]
        title = f"DRILL: TikTok client secret of app {leaked.name} leaked (rehearsal)"
        event = two_apps.leak_of(leaked, title=title, **drill)
        if not apps:  # the app of the single-app settings: the event need not name it
            event = {**event, "title": "DRILL: TikTok client secret leaked (rehearsal)"}
            event["entities"] = {"open_ids": event["entities"]["open_ids"]}
        incident = two_apps.open_incident(stage, event, 60)
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
        latencies = _ledger_latencies(folder, datetime.fromisoformat(aware), leaked.name if apps else None)
        host = _every_app(stage, targets, drill) if apps else None
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
    if host is not None:
        result.slos += host.slos
        result.apps, result.broken = host.apps, host.broken
        result.revoked = sum(state["revoked"] for state in host.apps["host compromise"])  # TikTok's count
    if latencies:
        result.revocation_latency_s = {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99)}
    return result


@dataclass
class _EveryApp:
    """What the host compromise of a two-app drill measured."""

    slos: list[Slo]
    apps: dict[str, list[dict[str, Any]]]
    broken: list[str]


def _every_app(stage: Stage, targets: dict[str, float], drill: dict[str, Any]) -> _EveryApp:
    """After the leak of the first app: how every app stands, then a host compromise naming no
    app, timed from its awareness to every app disconnected and every app's tokens revoked."""
    leaked = stage.apps[0].name
    after_leak = two_apps.app_states(stage)
    event = two_apps.host_compromise(
        title="DRILL: build host that held every app's secret compromised (rehearsal)",
        **{**drill, "dedup_key": f"{drill['dedup_key']}-host"},
    )
    path = f"/v1/incidents/{two_apps.open_incident(stage, event, 60)['id']}"
    with contextlib.suppress(OrchestratorError):  # not done in time: that SLO is missed
        stage.wait(
            "every app's revocation", lambda: stage.get(path)["revoked_at"], max(targets["revoke"] * 3, 120)
        )
    final = stage.get(path)
    after_host = two_apps.app_states(stage)
    slos = [
        Slo(
            name=f"{name} all apps",
            target_s=targets[name],
            measured_s=_seconds(final[column], final["aware_at"]),
        )
        for name, column in (("disconnect", "disconnected_at"), ("revoke", "revoked_at"))
    ]
    phases = {f"leak of {leaked}": after_leak, "host compromise": after_host}
    return _EveryApp(
        slos=slos,
        apps={phase: [s.as_dict() for s in states] for phase, states in phases.items()},
        broken=two_apps.broken_by_leak(after_leak) + two_apps.broken_by_host(after_leak, after_host),
    )


def _ledger_latencies(folder: Path, aware: datetime, app: str | None) -> list[float]:
    """Seconds from awareness to each revoked token's ledger row (``app``'s only, when named)."""
    store = Store(f"sqlite:///{(folder / 'data' / 'orchestrator.sqlite').resolve()}")
    try:
        with store.unit_of_work() as session:
            query = select(LedgerRow.updated_at).where(LedgerRow.status == "revoked")
            times = session.scalars(query if app is None else query.where(LedgerRow.app == app))
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
