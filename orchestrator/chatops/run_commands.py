"""`/ir run`, `/ir approve|deny` and `/ir done`: start a playbook and move its steps on from Slack.

Who may act on a step is decided by the flows (named approvers and assignees, groups); these
handlers parse, resolve the run and the incident, and phrase the reply.
"""

from __future__ import annotations

from typing import Any

from orchestrator.chatops import targets
from orchestrator.chatops.access import Access
from orchestrator.chatops.people import StepPeople
from orchestrator.chatops.replies import Caller, Reply, words
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.playbooks import decisions, manual
from orchestrator.playbooks import flows as playbook_flows
from orchestrator.playbooks import service as runs
from orchestrator.ports import Ports

__all__ = ["decide", "done", "run"]


def run(runtime: Ports, caller: Caller, args: list[str], raw: str, access: Access) -> Reply:
    manual = sorted(n for n, p in runtime.playbooks.items() if p.trigger.manual is not None)
    allowed = access.allowed_playbooks(manual)
    if not args:
        raise ValidationFailed(
            f"name a playbook: `/ir run PLAYBOOK [key=value ...]`; you may run: {', '.join(allowed)}"
        )
    name, pairs = args[0], words(raw)[2:]
    playbook = runtime.playbooks.get(name)
    if playbook is None or playbook.trigger.manual is None:
        raise NotFound(f"no manual playbook '{name}'; you may run: {', '.join(allowed) or 'none'}")
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationFailed(f"'{pair}' is not key=value: `/ir run {name} key=value ...`")
        inputs[key] = value
    incident_id = None
    if "incident" in inputs and "incident" not in playbook.inputs:
        incident_id = targets.incident_id(runtime, str(inputs.pop("incident")))
    else:  # typed in an incident's room: the run is about that incident
        incident_id = targets.room_incident(runtime, caller.channel_id)
    run_id = playbook_flows.start_manual_run(
        runtime.transaction,
        playbook=playbook,
        given_inputs=inputs,
        incident_id=incident_id,
        dry_run=False,
        actor=caller.actor,
    )
    return Reply(
        f"▶️ <@{caller.user_id}> started *{name}* as run `{run_id}`",
        public=True,
        incident_id=incident_id,
        to_room=True,
    )


def decide(runtime: Ports, caller: Caller, args: list[str], approve: bool, people: StepPeople) -> Reply:
    verb = "approve" if approve else "deny"
    if len(args) != 2:
        raise ValidationFailed(f"`/ir {verb} RUN STEP`, e.g. `/ir {verb} run-1a2b3c4d5e6f disconnect`")
    with runtime.store.unit_of_work() as session:
        run = runs.get_run(session, run_id=args[0])
        run_id, incident_id = run.id, run.incident_id
    decisions.decide_approval(
        runtime.transaction,
        run_id=run_id,
        step_id=args[1],
        approve=approve,
        actor=caller.actor,
        groups=people.groups,
    )
    word = "approved ✅" if approve else "denied ❌"
    return Reply(
        f"<@{caller.user_id}> {word} step `{args[1]}` of `{run_id}`", public=True, incident_id=incident_id
    )


def done(runtime: Ports, caller: Caller, raw: str, people: StepPeople) -> Reply:
    parts = raw.split(None, 3)
    if len(parts) < 3:
        raise ValidationFailed(
            "`/ir done RUN STEP [VALUE]`, e.g. `/ir done run-1a2b3c4d5e6f file_tiktok_report TT-48213`"
        )
    value = parts[3].strip() if len(parts) > 3 else ""
    with runtime.store.unit_of_work() as session:
        run = runs.get_run(session, run_id=parts[1])
        params = manual.params_of(run, parts[2])
        run_id, incident_id = run.id, run.incident_id
    if params.input and not value:
        raise ValidationFailed(
            f"step `{parts[2]}` needs its {params.input}: `/ir done {run_id} {parts[2]} VALUE`"
        )
    inputs = {params.input or "note": value} if value else {}
    decisions.complete_manual_step(
        runtime.transaction,
        run_id=run_id,
        step_id=parts[2],
        actor=caller.actor,
        inputs=inputs,
        groups=people.groups,
    )
    shown = f" ({params.input} {value})" if params.input else ""
    return Reply(
        f"✅ <@{caller.user_id}> completed `{parts[2]}` of `{run_id}`: {params.title}{shown}",
        public=True,
        incident_id=incident_id,
    )
