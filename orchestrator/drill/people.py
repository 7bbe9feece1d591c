"""The people in a drill: the playbook's manual steps (rotate the client secret, file the report in
TikTok's portal) asked of the on-call people and timed, beside the automated SLOs.

A drill with people asks each manual step as the run reaches it: on the terminal (``Answer``
returns what the person typed, and the drill marks the step done as them), or, when the drill's
stage has Slack, on the incident card, where a person presses Done and the drill only waits.
Each step's time runs from the moment it was asked to its Done, as the timeline recorded both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from orchestrator.drill.stage import Stage
from orchestrator.errors import OrchestratorError
from orchestrator.timeline import kinds

__all__ = ["Answer", "ManualAsk", "PersonTime", "manual_steps", "rehearse_people"]


@dataclass(frozen=True)
class ManualAsk:
    """A manual step the run waits for, as the timeline asked it."""

    run_id: str
    step: str
    title: str
    instructions: str
    input: str | None


Answer = Callable[[ManualAsk], dict[str, str]]
"""Ask a person (blocking) and return the step's inputs, e.g. ``{"ticket_id": "TT-1"}``."""


@dataclass(frozen=True)
class PersonTime:
    """How long a person took over one manual step."""

    step: str
    title: str
    by: str
    asked_after_awareness_s: float
    took_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def manual_steps(playbook: dict[str, Any]) -> list[str]:
    """The ids of a playbook's manual steps (as ``orchestrator playbook show`` prints it), those
    of its parallel blocks included."""
    steps: list[dict[str, Any]] = []
    for item in playbook.get("steps", []):
        steps += item["parallel"]["steps"] if "parallel" in item else [item]
    return [str(step["id"]) for step in steps if step.get("action") == "manual"]


def _entries(stage: Stage, incident_id: str) -> list[dict[str, Any]]:
    exported = json.loads(stage.cli("timeline", incident_id, "--format", "json"))
    return list(exported["entries"])


def _seconds(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def rehearse_people(
    stage: Stage,
    *,
    incident_id: str,
    aware_at: str,
    steps: list[str],
    answer: Answer | None,
    timeout_s: float,
) -> list[PersonTime]:
    """Ask every manual step in ``steps`` as the run reaches it and time each Done; ``answer``
    None means people answer elsewhere (Slack's Done button) and the drill only waits."""
    asked: set[tuple[str, str]] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        entries = _entries(stage, incident_id)
        done = {
            (e["data"]["run_id"], e["data"]["step"]): e
            for e in entries
            if e["kind"] == kinds.MANUAL_COMPLETED
        }
        requested = [e for e in entries if e["kind"] == kinds.MANUAL_REQUESTED and e["data"]["step"] in steps]
        if len(done) >= len(steps):
            return [_timed(e, done[(e["data"]["run_id"], e["data"]["step"])], aware_at) for e in requested]
        for entry in requested:
            data = entry["data"]
            key = (data["run_id"], data["step"])
            if key in done or key in asked or answer is None:
                continue
            asked.add(key)
            ask = ManualAsk(
                data["run_id"], data["step"], data["title"], data.get("instructions") or "", data.get("input")
            )
            inputs = answer(ask)
            given = [arg for name, value in inputs.items() for arg in ("--input", f"{name}={value}")]
            shown = stage.cli("run", "done", ask.run_id, ask.step, *given)
            if not shown.startswith("completed "):
                raise OrchestratorError(f"marking {ask.step} done failed: {shown.strip()}")
        if time.monotonic() > deadline:
            missing = ", ".join(s for s in steps if s not in {k[1] for k in done})
            raise OrchestratorError(f"no Done for {missing} within {timeout_s:g}s")
        time.sleep(0.5)


def _timed(requested: dict[str, Any], completed: dict[str, Any], aware_at: str) -> PersonTime:
    return PersonTime(
        step=requested["data"]["step"],
        title=requested["data"]["title"],
        by=completed["data"].get("by") or completed["actor"],
        asked_after_awareness_s=_seconds(requested["at"], aware_at),
        took_s=_seconds(completed["at"], requested["at"]),
    )
