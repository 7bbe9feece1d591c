"""Buttons and modals, and the one dispatch both transports (HTTP and Socket Mode) share.

Each Slack request becomes an ``Outcome``: the body of the immediate acknowledgement (Slack
waits at most 3 s) and, for real work, a function finished afterwards whose reply is POSTed
to the request's ``response_url``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from orchestrator import clock, redaction
from orchestrator.chatops import card_sync, cards, release, roles
from orchestrator.chatops import kinds as slack_kinds
from orchestrator.chatops import news_messages as say
from orchestrator.chatops.access import Access
from orchestrator.chatops.client import SlackClient, SlackError, client_for
from orchestrator.chatops.commands import handle_command
from orchestrator.chatops.names import names_for
from orchestrator.chatops.people import StepPeople, step_people
from orchestrator.chatops.replies import Caller, Reply, record
from orchestrator.config import Settings
from orchestrator.errors import NotFound, ValidationFailed
from orchestrator.logging import get_logger
from orchestrator.playbooks import manual
from orchestrator.playbooks import service as runs
from orchestrator.ports import Ports

__all__ = ["Outcome", "command_outcome", "deliver", "interaction_outcome", "parse_payload"]

_log = get_logger(__name__)
ClientFactory = Callable[[Settings], SlackClient]


@dataclass
class Outcome:
    """``ack`` answers Slack now (None: an empty 200); ``later`` finishes the work afterwards."""

    ack: dict[str, Any] | None = None
    later: Callable[[], Reply | None] | None = None
    response_url: str | None = None


def deliver(outcome: Outcome) -> None:
    """Run ``outcome.later`` and POST its reply to ``response_url``; failures are logged, not raised."""
    if outcome.later is None:
        return
    try:
        reply = outcome.later()
    except Exception as exc:  # the user still deserves an answer
        _log.exception("slack_work_failed", error=type(exc).__name__)
        reply = Reply(f"⚠️ Something failed: {type(exc).__name__}. Check the orchestrator's logs.")
    if reply is None or not outcome.response_url:
        return
    try:
        httpx.post(outcome.response_url, json=reply.as_slack(), timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        _log.warning("slack_response_url_failed", error=type(exc).__name__)


def command_outcome(runtime: Ports, form: Mapping[str, str], access: Access) -> Outcome:
    """A slash command: ``help`` answered at once, everything else acknowledged and finished later."""
    text = (form.get("text") or "").strip()
    caller = Caller(user_id=form.get("user_id", ""), channel_id=form.get("channel_id"))
    command = text.split()[0].lower() if text else "help"
    if command == "help":
        return Outcome(ack=handle_command(runtime, text=text, caller=caller, access=access).as_slack())

    def finish() -> Reply:
        return handle_command(runtime, text=text, caller=caller, access=access)

    ack = {"response_type": "ephemeral", "text": f"⏳ Working on `/ir {command[:30]}`…"}
    return Outcome(ack=ack, later=finish, response_url=form.get("response_url"))


def _clicked_message(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """(channel, ts) of the message whose button was clicked, as Slack's payload names it."""
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (payload.get("message") or {}).get("ts")
    return (str(channel), str(ts)) if channel and ts else None


def _replace_buttons(
    runtime: Ports, factory: ClientFactory, clicked: tuple[str, str] | None, message: say.Message
) -> None:
    """The decided message shows the decision instead of its buttons (``chat.update``)."""
    if clicked is None:
        return
    text, blocks = message
    try:
        factory(runtime.settings).update(clicked[0], clicked[1], text=text, blocks=blocks or [])
    except SlackError as exc:
        _log.warning("slack_decided_update_failed", error=exc.code)


def _who_can_release(runtime: Ports, access: Access) -> str:
    """``Who can: the admins (...)``, by name, as every other refusal says it."""
    return roles.Standing().who_can("release", StepPeople(), access, names_for(runtime.settings))


def _release_decision(
    runtime: Ports,
    caller: Caller,
    request_id: str,
    approve: bool,
    access: Access,
    replace: Callable[[say.Message], None],
) -> Reply:
    if not access.may_run(caller.user_id, "release"):
        record(
            runtime,
            caller=caller,
            kind=slack_kinds.SLACK_REFUSED,
            chain=None,
            message=f"{caller.actor} was refused a release decision: not authorised",
            data={"command": "release", "args": request_id, "reason": "not authorised"},
        )
        who = _who_can_release(runtime, access)
        return Reply(f"⛔ You are not allowed to decide releases of the kill switch. {who}")
    try:
        decision = release.decide_release(
            runtime, request_id=request_id, user_id=caller.user_id, approve=approve
        )
    except (ValidationFailed, NotFound) as exc:
        return Reply(f"⚠️ {exc}")
    record(
        runtime,
        caller=caller,
        kind=slack_kinds.SLACK_COMMAND,
        chain=decision.incident_id,
        message=f"{caller.actor} {'approved' if approve else 'denied'} release {request_id}",
        data={
            "command": "release_approve" if approve else "release_deny",
            "args": request_id,
            "outcome": "ok",
        },
    )
    if decision.incident_id:
        card_sync.owe_refresh(runtime, decision.incident_id)
    replace(say.release_decided(approve, caller.user_id, decision.requested_by, clock.utcnow()))
    if approve:
        return Reply(
            f"🟢 Kill switch{'' if decision.app is None else f' of app {decision.app}'} released: "
            f"asked by <@{decision.requested_by}>, approved by <@{caller.user_id}>.",
            public=True,
        )
    return Reply(
        f"❌ <@{caller.user_id}> denied the release asked by <@{decision.requested_by}>.", public=True
    )


def _open_release_modal(
    runtime: Ports,
    caller: Caller,
    payload: Mapping[str, Any],
    incident_id: str,
    access: Access,
    factory: ClientFactory,
) -> Outcome:
    if not access.may_run(caller.user_id, "release"):
        refused = handle_command(runtime, text=f"release {incident_id}", caller=caller, access=access)
        return Outcome(ack=None, later=lambda: refused, response_url=payload.get("response_url"))
    try:
        factory(runtime.settings).open_view(
            str(payload.get("trigger_id", "")), cards.release_modal(incident_id, caller.channel_id)
        )
    except SlackError as exc:
        failed = Reply(f"⚠️ Could not open the release form ({exc.code}); use `/ir release REASON`.")
        return Outcome(ack=None, later=lambda: failed, response_url=payload.get("response_url"))
    return Outcome(ack=None)


def _submit_release(
    runtime: Ports, caller: Caller, view: Mapping[str, Any], access: Access, factory: ClientFactory
) -> Outcome:
    values = ((view.get("state") or {}).get("values") or {}).get(cards.RELEASE_REASON_BLOCK) or {}
    reason = str((values.get(cards.RELEASE_REASON_ACTION) or {}).get("value") or "")
    incident_id, _, channel = str(view.get("private_metadata") or "").partition("|")
    if not access.may_run(caller.user_id, "release"):
        handle_command(runtime, text=f"release {reason}", caller=caller, access=access)
        refused = f"You are not allowed to release the kill switch. {_who_can_release(runtime, access)}"
        return Outcome(ack={"response_action": "errors", "errors": {cards.RELEASE_REASON_BLOCK: refused}})
    try:
        request_id = release.request_release(
            runtime, user_id=caller.user_id, reason=reason, incident_id=incident_id or None
        )
    except ValidationFailed as exc:
        return Outcome(ack={"response_action": "errors", "errors": {cards.RELEASE_REASON_BLOCK: str(exc)}})

    def announce() -> None:
        text, blocks = cards.release_request_message(request_id, caller.user_id, reason)
        target = channel or caller.channel_id
        if target:
            try:
                factory(runtime.settings).post(target, text=text, blocks=blocks)
            except SlackError as exc:
                _log.warning("slack_release_announce_failed", error=exc.code)
        return None

    return Outcome(ack=None, later=announce)


def _open_done_modal(
    runtime: Ports,
    caller: Caller,
    payload: Mapping[str, Any],
    value: str,
    access: Access,
    factory: ClientFactory,
) -> Outcome:
    """The Done button of a manual step: a modal asking for the step's input (or a note)."""
    run_id, _, step_id = value.partition("|")
    response_url = payload.get("response_url")
    people = step_people(runtime, access, caller.user_id, "done", [run_id, step_id])
    if not roles.may_act(runtime, access, caller, "done", f"done {run_id} {step_id}", people)[0]:
        refused = handle_command(runtime, text=f"done {run_id} {step_id}", caller=caller, access=access)
        return Outcome(ack=None, later=lambda: refused, response_url=response_url)
    try:
        with runtime.store.unit_of_work() as session:
            params = manual.params_of(runs.get_run(session, run_id=run_id), step_id)
        modal = cards.manual_modal(
            run_id=run_id,
            step_id=step_id,
            title=params.title,
            instructions=params.instructions,
            needs=params.input,
            channel_id=caller.channel_id,
        )
        factory(runtime.settings).open_view(str(payload.get("trigger_id", "")), modal)
    except (ValidationFailed, NotFound) as exc:
        failed = Reply(f"⚠️ {exc}")
        return Outcome(ack=None, later=lambda: failed, response_url=response_url)
    except SlackError as exc:
        failed = Reply(f"⚠️ Could not open the form ({exc.code}); use `/ir done {run_id} {step_id} VALUE`.")
        return Outcome(ack=None, later=lambda: failed, response_url=response_url)
    return Outcome(ack=None)


def _submit_done(
    runtime: Ports, caller: Caller, view: Mapping[str, Any], access: Access, factory: ClientFactory
) -> Outcome:
    """The Done modal submitted: complete the step, or show why not inside the modal."""
    values = ((view.get("state") or {}).get("values") or {}).get(cards.MANUAL_INPUT_BLOCK) or {}
    given = " ".join(str((values.get(cards.MANUAL_INPUT_ACTION) or {}).get("value") or "").split())
    run_id, step_id, channel = [*str(view.get("private_metadata") or "").split("|"), "", ""][:3]
    reply = handle_command(
        runtime, text=f"done {run_id} {step_id} {given}".strip(), caller=caller, access=access
    )
    if reply.error is not None:
        return Outcome(
            ack={"response_action": "errors", "errors": {cards.MANUAL_INPUT_BLOCK: reply.error[:150]}}
        )

    def announce() -> None:
        target = channel or caller.channel_id
        if target:
            try:
                factory(runtime.settings).post(target, text=redaction.redact_text(reply.text))
            except SlackError as exc:
                _log.warning("slack_manual_done_announce_failed", error=exc.code)

    return Outcome(ack=None, later=announce)


def interaction_outcome(
    runtime: Ports, payload: Mapping[str, Any], access: Access, factory: ClientFactory = client_for
) -> Outcome:
    """A button click (``block_actions``) or a modal submission (``view_submission``)."""
    user = str((payload.get("user") or {}).get("id") or "")
    channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get("channel_id")
    caller = Caller(user_id=user, channel_id=channel)
    response_url = payload.get("response_url")
    if payload.get("type") == "view_submission":
        view = payload.get("view") or {}
        if view.get("callback_id") == cards.RELEASE_MODAL:
            return _submit_release(runtime, caller, view, access, factory)
        if view.get("callback_id") == cards.MANUAL_MODAL:
            return _submit_done(runtime, caller, view, access, factory)
        return Outcome(ack=None)
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        return Outcome(ack=None)
    action = payload["actions"][0]
    action_id, value = str(action.get("action_id")), str(action.get("value") or "")
    if action_id == cards.ACTION_RELEASE:
        return _open_release_modal(runtime, caller, payload, value, access, factory)
    if action_id == cards.ACTION_MANUAL_DONE:
        return _open_done_modal(runtime, caller, payload, value, access, factory)
    if action_id in (cards.ACTION_RELEASE_APPROVE, cards.ACTION_RELEASE_DENY):
        approve = action_id == cards.ACTION_RELEASE_APPROVE
        clicked = _clicked_message(payload)

        def replace(message: say.Message) -> None:
            _replace_buttons(runtime, factory, clicked, message)

        return Outcome(
            later=lambda: _release_decision(runtime, caller, value, approve, access, replace),
            response_url=response_url,
        )
    texts = {
        cards.ACTION_APPROVE: "approve " + value.replace("|", " "),
        cards.ACTION_DENY: "deny " + value.replace("|", " "),
        cards.ACTION_ENGAGE: f"disconnect {value}",
        cards.ACTION_TIMELINE: f"timeline {value}",
    }
    if action_id not in texts:
        return Outcome(ack=None)
    text = texts[action_id]
    return Outcome(
        later=lambda: handle_command(runtime, text=text, caller=caller, access=access),
        response_url=response_url,
    )


def parse_payload(form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON ``payload`` field of an interaction request; ValidationFailed if absent or broken."""
    try:
        payload = json.loads(form.get("payload") or "")
    except ValueError:
        raise ValidationFailed("payload: not JSON") from None
    if not isinstance(payload, dict):
        raise ValidationFailed("payload: not an object")
    return payload
