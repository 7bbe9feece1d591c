"""Who may act on an incident besides the admins: the people in its room, and its lead (issue 29).

Admins (``slack_admins``) may run every command, and a step's named approvers and assignees may
act on that step (``people.py``). Everyone involved in an incident (invited to its room, named
its lead, or who acted on it) may add notes to it and mark done its manual steps meant for
anyone; its lead may also hand the lead over, set its severity and post updates. The kill
switch, playbooks, approvals and the incident's end stay with the admins. A refusal says who
can, by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from orchestrator.chatops import participants, targets
from orchestrator.chatops.access import Access
from orchestrator.chatops.names import Names
from orchestrator.chatops.participants import Roster
from orchestrator.chatops.people import StepPeople
from orchestrator.chatops.replies import Caller
from orchestrator.errors import NotFound
from orchestrator.ports import Ports

__all__ = ["INVOLVED_COMMANDS", "LEAD_COMMANDS", "Standing", "may_act", "standing"]

INVOLVED_COMMANDS: Final = frozenset({"note", "done"})
LEAD_COMMANDS: Final = INVOLVED_COMMANDS | {"lead", "severity", "update"}


@dataclass(frozen=True)
class Standing:
    """The incident a command is about (None when it names none, or is not one these rules
    open) and that incident's people."""

    incident_id: str | None = None
    roster: Roster = field(default_factory=Roster)

    def permits(self, user_id: str, command: str, people: StepPeople) -> bool:
        """True when ``user_id`` may run ``command`` on the incident as one of its people."""
        if self.incident_id is None or (command == "done" and not people.open_to_all):
            return False
        if command in INVOLVED_COMMANDS and user_id in self.roster:
            return True
        return command in LEAD_COMMANDS and self.roster.lead == user_id

    def who_can(self, command: str, people: StepPeople, access: Access, names: Names) -> str:
        """``Who can: ...``, by name: the step's people, the incident's, and the admins."""
        found: list[str] = []
        named = [n for n in people.names if n != "any"]
        if named:
            found.append(f"the people the step names ({names.listed(named)})")
        incident, open_to_them = self.incident_id, command != "done" or people.open_to_all
        if incident is not None and command in INVOLVED_COMMANDS and open_to_them:
            found.append(f"the people of {incident} ({names.listed(self.roster.involved) or 'nobody yet'})")
        elif incident is not None and command in LEAD_COMMANDS and self.roster.lead:
            found.append(f"its lead {names.name(self.roster.lead)}")
        found.append(f"the admins ({names.listed(access.admin_users()) or 'none set'})")
        return "Who can: " + "; ".join(found) + "."


def standing(runtime: Ports, channel_id: str | None, command: str, raw: str, people: StepPeople) -> Standing:
    """The incident ``command`` acts on (named first, else the room's; a step's run's for ``done``)
    and its people; empty for commands these rules do not open."""
    if command not in LEAD_COMMANDS:
        return Standing()
    if command == "done":
        incident_id = people.incident_id
    else:
        try:
            incident_id, _ = targets.incident_and_rest(runtime, channel_id, raw)
        except NotFound:
            return Standing()  # the command itself says the incident does not exist
    if incident_id is None:
        return Standing()
    with runtime.store.unit_of_work() as session:
        return Standing(incident_id, participants.roster(session, incident_id))


def may_act(
    runtime: Ports, access: Access, caller: Caller, command: str, text: str, people: StepPeople
) -> tuple[bool, Standing]:
    """Whether ``caller`` may run ``command`` (as an admin, as one a step names, or as one of the
    incident's people), and the incident's standing for a refusal to name who can."""
    place = standing(runtime, caller.channel_id, command, text, people)
    allowed = (
        access.may_run(caller.user_id, command)
        or people.admit(caller.actor)
        or place.permits(caller.user_id, command, people)
    )
    return allowed, place
