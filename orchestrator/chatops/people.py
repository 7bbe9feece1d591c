"""People a step names may act on it from Slack, admins or not (issue 29, item 1).

``slack_admins`` guard the restricted `/ir` commands; a step that names its approvers (or a
manual step its assignees) has already said who may decide it, so those people pass the admin
gate for that step: by user id, or through a Slack user group the step names. ``any`` names
nobody in particular and opens nothing beyond the admin gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.chatops.access import Access
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.playbooks import manual
from orchestrator.playbooks import service as runs
from orchestrator.playbooks.people import is_named
from orchestrator.ports import Ports

__all__ = ["StepPeople", "step_people"]


@dataclass(frozen=True)
class StepPeople:
    """Who a step names, and which of the named groups the caller belongs to."""

    names: tuple[str, ...] = ()
    groups: frozenset[str] = frozenset()
    incident_id: str | None = None  # the incident of the step's run

    @property
    def open_to_all(self) -> bool:
        """The step names ``any``: anyone involved in its incident may act (chatops/roles.py)."""
        return "any" in self.names

    def admit(self, actor: str) -> bool:
        """True when the caller is named (not merely covered by ``any``)."""
        named = tuple(n for n in self.names if n != "any")
        return bool(named) and is_named(actor, named, self.groups)


def step_people(runtime: Ports, access: Access, user_id: str, command: str, args: list[str]) -> StepPeople:
    """The people named by the step of ``/ir approve|deny|done RUN STEP``; none for other commands
    or when the run or step does not exist (the command itself then says what is wrong)."""
    if command not in ("approve", "deny", "done") or len(args) < 2:
        return StepPeople()
    try:
        with runtime.store.unit_of_work() as session:
            run = runs.get_run(session, run_id=args[0])
            incident_id = run.incident_id
            if command == "done":
                names: tuple[str, ...] = tuple(manual.params_of(run, args[1]).assignees)
            else:
                approval = runs.snapshot(run).step(args[1]).approval
                names = approval.approvers if approval is not None else ()
    except (NotFound, ValidationFailed, KeyError):
        return StepPeople()
    return StepPeople(names, access.groups_of(user_id, names), incident_id)
