"""The soak: 100 events/s of mixed traffic for a long time on PostgreSQL + Redis, the API, two
workers and the scheduler as separate processes; does anything grow without bound?

    .venv/bin/python -m benchmarks soak             # one hour (the figures in docs/benchmarks.md)
    .venv/bin/python -m benchmarks.soak --minutes 5  # any length; figures as JSON lines

The mix, every second: one storm (90 % of the events: one incident a minute, a new address each
event), distinct alerts (10 %: a new incident each), and every 30 s a critical leak whose playbook
(soak_playbooks/) revokes its own cohort of 1,000 tokens at the TikTok simulator. The deployment
is tests/revocation/concurrent.py's (a private redis-server, a throwaway PostgreSQL database), the
load benchmarks/loadgen.py's open loop. Every few seconds the RSS of each process tree (a worker
supervises its Celery child) and the outbox depth are sampled. Memory growth is measured from the
end of the warm-up (a fifth of the run, at most 5 minutes) to the end, each over its last samples.
tests/faults/test_soak.py runs five minutes of it in CI and asserts the same goals.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.common import Figure
from benchmarks.loadgen import Call, paced
from orchestrator import clock
from orchestrator.incidents.models import IncidentRow
from orchestrator.playbooks.models import RunRow
from orchestrator.store.outbox import OutboxRow
from tests.revocation.concurrent import Incidents, deployment
from tests.support.processes import wait_for
from tests.support.runtime import INTAKE_TOKEN

__all__ = ["RATE", "Soak", "run", "soak"]

RATE = 100.0
"""Events per second the issue asks the soak to sustain."""
COHORT = 1000
"""Tokens each critical leak revokes."""
LEAK_EVERY_S = 30
SAMPLE_EVERY_S = 5.0
GROWTH_GOAL = 0.10
PLAYBOOKS = Path(__file__).parent / "soak_playbooks"
NOTES = {
    "": "PostgreSQL + Redis (private redis-server), `serve`, two `worker`s and `scheduler` as separate "
    "processes; 100 events/s open loop: storms (90 %), distinct alerts (10 %), a critical leak every "
    "30 s revoking its own 1,000 tokens. RSS of each process tree sampled every 5 s; growth from the "
    "end of the warm-up (a fifth of the run, at most 5 min) to the end, each the median of its last 6 "
    "samples."
}


def _leaks(minutes: float) -> int:
    return int(minutes * 60 // LEAK_EVERY_S)


def _event(n: int) -> Call:
    """Event ``n`` of the mix (one second is ``RATE`` events)."""
    second, slot = divmod(n, int(RATE))
    if slot == 0 and second % LEAK_EVERY_S == 0:
        cohort = f"cohort-{second // LEAK_EVERY_S}"
        body: dict[str, Any] = {
            "title": f"soak leak {cohort}",
            "kind": "soak.leak",
            "severity": "critical",
            "dedup_key": cohort,
        }
    elif slot % 10 == 1:
        body = {
            "title": f"soak alert {n}",
            "kind": "soak.alert",
            "severity": "low",
            "dedup_key": f"alert-{n}",
        }
    else:
        body = {
            "title": "soak storm",
            "kind": "soak.storm",
            "severity": "low",
            "dedup_key": f"storm-{second // 60}",
            "entities": {"ips": [f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"]},
        }
    return ("POST", "/v1/events", json.dumps(body).encode())


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        one = todo.pop()
        try:
            status = Path(f"/proc/{one}/status").read_text()
            todo += [int(c) for c in Path(f"/proc/{one}/task/{one}/children").read_text().split()]
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


@dataclass
class Soak:
    """What the soak saw: RSS samples by process, outbox depth samples, and the final accounting."""

    minutes: float
    warmup_s: float
    rss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    outbox: list[int] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    accepted: int = 0
    correlated: int = 0
    leaks: int = 0
    leaks_revoked: int = 0
    runs_unfinished: int = 0
    outbox_left: int = -1
    repeats: int = -1

    def growth(self, name: str) -> float:
        """Relative RSS growth of ``name`` from the end of the warm-up to the end (medians of 6 samples)."""
        samples = self.rss[name]
        base = [mb for t, mb in samples if t <= self.warmup_s][-6:]
        last = [mb for _, mb in samples][-6:]
        return statistics.median(last) / statistics.median(base) - 1

    def figures(self, command: str) -> list[Figure]:
        """The figures, each beside its goal."""
        out = []
        for name in sorted(self.rss):
            grown = self.growth(name)
            end = statistics.median([mb for _, mb in self.rss[name]][-6:])
            out.append(
                Figure(
                    f"memory growth: {name} (RSS at the end {end:.0f} MiB)",
                    round(grown * 100, 1),
                    "%",
                    "< 10",
                    grown < GROWTH_GOAL,
                    command,
                )
            )
        bounded = (
            max(self.outbox[len(self.outbox) // 2 :], default=0)
            <= 2 * max(self.outbox[: len(self.outbox) // 2], default=0) + 100
        )
        out += [
            Figure("events sent", self.load.get("requests", 0), "", "", None, command),
            Figure(
                "events answered 202",
                self.accepted,
                "",
                "all sent",
                self.accepted == self.load.get("requests"),
                command,
            ),
            Figure(
                "events correlated (sum of event_count)",
                self.correlated,
                "",
                "all accepted",
                self.correlated == self.accepted,
                command,
            ),
            Figure("p99 answer", self.load.get("p99_ms", 0), "ms", "", None, command),
            Figure(
                "max outbox depth",
                max(self.outbox, default=0),
                "rows",
                "bounded (2nd half <= 2 x 1st + 100)",
                bounded,
                command,
            ),
            Figure(
                "outbox rows of the load owed after the drain",
                self.outbox_left,
                "",
                "0",
                self.outbox_left == 0,
                command,
            ),
            Figure(
                "critical leaks revoked",
                f"{self.leaks_revoked} of {self.leaks}",
                "",
                "all",
                self.leaks_revoked == self.leaks,
                command,
            ),
            Figure(
                "playbook runs not succeeded",
                self.runs_unfinished,
                "",
                "0",
                self.runs_unfinished == 0,
                command,
            ),
            Figure("tokens sent twice", self.repeats, "", "0", self.repeats == 0, command),
        ]
        return out


def _sample(incidents: Incidents, result: Soak, started: float, stop: threading.Event) -> None:
    site = incidents.site
    names = [p.log.stem for p in site.procs]  # serve-0, worker-1, worker-2, scheduler-3
    owed = select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None))
    while not stop.wait(SAMPLE_EVERY_S):
        at = time.monotonic() - started
        for name, proc in zip(names, site.procs, strict=True):
            result.rss.setdefault(name, []).append((at, tree_rss_mb(proc.popen.pid)))
        result.outbox.append(int(site.read(lambda s: s.scalar(owed)) or 0))


def soak(tmp: Path, minutes: float) -> Soak:
    """Run the soak for ``minutes`` in ``tmp``, then wait for the work to drain and account for it."""
    leaks = _leaks(minutes)
    labels = {i: {"cohort": f"cohort-{i // COHORT}"} for i in range(leaks * COHORT)}
    result = Soak(minutes, warmup_s=min(300.0, minutes * 12))
    with deployment(
        tmp,
        "redis",
        tokens=leaks * COHORT,
        rate=400.0,
        workers=2,
        labels=labels,
        shipped_playbooks="false",
        playbook_dirs=f'["{PLAYBOOKS}"]',
        redeliver_after_seconds="30",
        relay_interval_seconds="1",
    ) as incidents:
        site = incidents.site
        stop = threading.Event()
        started = time.monotonic()
        sampler = threading.Thread(target=_sample, args=(incidents, result, started, stop), daemon=True)
        sampler.start()
        try:
            result.load = paced(
                site.port, INTAKE_TOKEN, _event, rate=RATE, seconds=minutes * 60, connections=16
            )
        finally:
            stop.set()
            sampler.join()
        result.accepted = int(result.load["statuses"].get(202, 0))
        # Rows owed from the load: the scheduler keeps writing its periodic rows meanwhile, and
        # counting those read "8 owed after the drain" in an hour's run whose work had drained.
        load_ended = clock.utcnow()
        owed = (
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.done_at.is_(None), OutboxRow.created_at <= load_ended)
        )
        running = select(func.count()).select_from(RunRow).where(RunRow.status == "running")
        wait_for(
            lambda: site.read(lambda s: s.scalar(owed)) == 0 and site.read(lambda s: s.scalar(running)) == 0,
            timeout=300,
            what="the outbox drained and every run ended",
        )
        result.outbox_left = int(site.read(lambda s: s.scalar(owed)) or 0)
        rows = site.read(
            lambda s: list(
                s.execute(select(IncidentRow.kind, IncidentRow.event_count, IncidentRow.revoked_at))
            )
        )
        result.correlated = sum(n for _, n, _ in rows)
        result.leaks = sum(1 for kind, _, _ in rows if kind == "soak.leak")
        result.leaks_revoked = sum(1 for kind, _, at in rows if kind == "soak.leak" and at is not None)
        result.runs_unfinished = int(
            site.read(
                lambda s: s.scalar(
                    select(func.count()).select_from(RunRow).where(RunRow.status != "succeeded")
                )
            )
            or 0
        )
        result.repeats = incidents.repeats()
    return result


def run(quick: bool) -> list[Figure]:
    """``python -m benchmarks soak``: the hour (five minutes with ``--quick``)."""
    minutes = 5.0 if quick else 60.0
    with tempfile.TemporaryDirectory(prefix="orch-soak-") as tmp:
        result = soak(Path(tmp), minutes)
    return result.figures(f".venv/bin/python -m benchmarks.soak --minutes {minutes:g}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the load runs (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-soak-") as tmp:
        result = soak(Path(tmp), args.minutes)
    for figure in result.figures(f".venv/bin/python -m benchmarks.soak --minutes {args.minutes:g}"):
        print(figure.as_json(), flush=True)


if __name__ == "__main__":
    main()
