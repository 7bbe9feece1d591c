"""Block Kit builders, pure: the incident card, its buttons, the release modal and short replies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from orchestrator import redaction
from orchestrator.chatops.card_apps import AppState, apps_text
from orchestrator.chatops.names import Names
from orchestrator.proof.summary import Exposure
from orchestrator.timeline.checkpoints import Checkpoint

__all__ = [
    "ACTION_APPROVE",
    "ACTION_DENY",
    "ACTION_ENGAGE",
    "ACTION_MANUAL_DONE",
    "ACTION_RELEASE",
    "ACTION_RELEASE_APPROVE",
    "ACTION_RELEASE_DENY",
    "ACTION_TIMELINE",
    "MANUAL_INPUT_ACTION",
    "MANUAL_INPUT_BLOCK",
    "MANUAL_MODAL",
    "RELEASE_MODAL",
    "RELEASE_REASON_ACTION",
    "RELEASE_REASON_BLOCK",
    "CardState",
    "PendingApproval",
    "Revocation",
    "incident_card",
    "manual_modal",
    "pending_blocks",
    "release_modal",
    "release_request_message",
]

ACTION_APPROVE: Final = "ir_approve"
ACTION_DENY: Final = "ir_deny"
ACTION_ENGAGE: Final = "ir_engage"
ACTION_RELEASE: Final = "ir_release"
ACTION_TIMELINE: Final = "ir_timeline"
ACTION_RELEASE_APPROVE: Final = "ir_release_approve"
ACTION_RELEASE_DENY: Final = "ir_release_deny"
ACTION_MANUAL_DONE: Final = "ir_manual_done"
RELEASE_MODAL: Final = "ir_release_modal"
MANUAL_MODAL: Final = "ir_manual_modal"
MANUAL_INPUT_BLOCK: Final = "manual_input"
MANUAL_INPUT_ACTION: Final = "manual_input_value"
RELEASE_REASON_BLOCK: Final = "reason"
RELEASE_REASON_ACTION: Final = "reason_input"

_SEVERITY_MARK = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵", "info": "⚪"}
_LINKABLE = re.compile(r"https?://[^\s<>|]+")
_HOSTS_SHOWN = 3
_INSTRUCTIONS_SHOWN = 1200
_FILING_NOTE = (
    "_The automatic report to TikTok is sent on its own (see *Report to TikTok*); this step is"
    " the filing in TikTok's developer portal, which no API can do: both are expected._"
)


@dataclass(frozen=True)
class PendingApproval:
    """A step of a run waiting for a person: a decision, or (``manual_title`` set) work to mark done."""

    run_id: str
    step_id: str
    playbook: str
    manual_title: str | None = None
    needs: str | None = None  # the input a manual step asks for, e.g. ticket_id
    instructions: str = ""
    files_report: bool = False  # the step files the report in TikTok's portal (``evidence: report``)


@dataclass(frozen=True)
class Revocation:
    """Revocation progress as counts (never tokens)."""

    done: int
    total: int | None
    revoked: int
    already_dead: int
    failed: int
    finished: bool
    at: datetime | None = None  # when this progress was recorded


@dataclass(frozen=True)
class CardState:
    """Everything the card shows; built from the store by ``card_sync.card_state``."""

    incident_id: str
    title: str
    severity: str
    status: str
    switch_engaged: bool
    aware_at: datetime
    kind: str = ""
    hosts: Sequence[str] = ()
    source: str = ""
    source_ref: str | None = None  # the SIEM's link to the alert, shown when it is http(s)
    disconnected_at: datetime | None = None
    revoked_at: datetime | None = None
    reported_at: datetime | None = None
    revocation: Revocation | None = None
    report_state: str = "not sent"
    approvals: Sequence[PendingApproval] = field(default_factory=tuple)
    exposure: Exposure | None = None
    census_at: datetime | None = None  # when the exposure census was taken
    checkpoint: Checkpoint | None = None
    lead: str | None = None  # the incident commander's Slack user id
    involved: Sequence[str] = field(default_factory=tuple)  # Slack user ids, by arrival
    apps: Sequence[AppState] = ()  # each TikTok app's state; none shown for a lone app ``default``


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _escape(text: str) -> str:
    """Text safe inside Slack mrkdwn: ``&``, ``<`` and ``>`` are control characters there."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S UTC") if value else "—"


def _revocation_text(progress: Revocation | None) -> str:
    if progress is None:
        return "not started"
    total = "?" if progress.total is None else f"{progress.total:,}"
    state = "finished" if progress.finished else "in progress"
    as_of = f" as of {_clock(progress.at)}" if progress.at and not progress.finished else ""
    return (
        f"{state}: {progress.done:,}/{total}{as_of} (revoked {progress.revoked:,}, "
        f"already dead {progress.already_dead:,}, failed {progress.failed:,})"
    )


def _census_is_older(state: CardState) -> bool:
    """Whether the census was taken before the revocation's latest progress (its counts are then
    of an earlier moment and must not read as now)."""
    progress = state.revocation
    return bool(progress and progress.at and state.census_at and state.census_at < progress.at)


def _exposure_text(state: CardState) -> str:
    exposure = state.exposure
    if exposure is None:
        return "*Exposure census*: not taken yet"
    shown = ("revoked", "already_dead", "failed", "pending", "confirmed_dead", "still_live", "purged")
    counts = " · ".join(
        f"{key.replace('_', ' ')} {exposure.counts[key]:,}"
        for key in shown
        if exposure.counts.get(key) is not None
    )
    taken = f", a probe taken {_time(state.census_at)}" if state.census_at else ""
    sentence = exposure.sentence()
    if _census_is_older(state):
        taken += ", before the revocation progress above"
        sentence = sentence.replace("still exposed now", "still exposed then")
    text = f"*Exposure census* (after {exposure.phase}{taken}): {sentence}"
    if counts:
        text += f"\n{counts}"
    if exposure.escalate:
        text += "\n🚨 *Escalated*: a revoked token still worked. A person must look now."
    return text


def pending_blocks(pending: PendingApproval) -> list[dict[str, Any]]:
    """A step waiting for a person: what it waits for and its buttons (the card and the room's ask)."""
    value = f"{pending.run_id}|{pending.step_id}"
    if pending.manual_title is not None:
        title = _escape(redaction.redact_text(pending.manual_title)[:300])
        needs = f" (needs its {pending.needs})" if pending.needs else ""
        text = f"🖐 *To do by a person*: {title}{needs}\n"
        about = _escape(redaction.redact_text(pending.instructions))
        if about:
            cut = about[:_INSTRUCTIONS_SHOWN]
            text += "> " + (cut if cut == about else cut + "… (all of it under *Done*)") + "\n"
        if pending.files_report:
            text += _FILING_NOTE + "\n"
        text += f"step `{pending.step_id}` of {pending.playbook} (`{pending.run_id}`)"
        elements = [_button("Done", ACTION_MANUAL_DONE, value, "primary")]
        block_id = f"manual:{value}"
    else:
        text = f"⏳ *Approval needed*: step `{pending.step_id}` of {pending.playbook} (`{pending.run_id}`)"
        elements = [
            _button("Approve", ACTION_APPROVE, value, "primary"),
            _button("Deny", ACTION_DENY, value, "danger"),
        ]
        block_id = f"approval:{value}"
    return [
        _mrkdwn(text),
        {"type": "actions", "block_id": block_id[:255], "elements": elements},
    ]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _people_text(state: CardState, names: Names) -> str:
    lead = names.name(state.lead) if state.lead else "nobody yet (`/ir lead @person`)"
    involved = names.listed(state.involved, limit=12) if state.involved else "nobody yet"
    return f"*Lead*: {lead}\n*Involved* ({len(state.involved)}): {involved}"


def _about(state: CardState) -> str:
    """The line under the title: the incident id, what happened where, and the way back to the
    SIEM's alert (a link when ``source_ref`` is a web address)."""
    parts = [f"`{state.incident_id}`"]
    if state.kind:
        what = f"`{_escape(redaction.redact_text(state.kind)[:128])}`"
        if state.hosts:
            hosts = ", ".join(_escape(redaction.redact_text(h)[:100]) for h in state.hosts[:_HOSTS_SHOWN])
            more = len(state.hosts) - _HOSTS_SHOWN
            what += f" on {hosts}" + (f" and {more:,} more" if more > 0 else "")
        parts.append(what)
    if state.source:
        parts.append(f"from {_escape(state.source[:64])}")
    if state.source_ref:
        ref = redaction.redact_text(state.source_ref)[:2000]
        link = f"<{_escape(ref)}|Open the alert in the SIEM>"
        parts.append(link if _LINKABLE.fullmatch(ref) else f"SIEM ref `{_escape(ref)}`")
    return " · ".join(parts)


def incident_card(state: CardState, names: Names | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The card's fallback text and blocks; every free text is redacted; people by ``names``
    (their Slack ids without it)."""
    title = redaction.redact_text(state.title)[:150]
    mark = _SEVERITY_MARK.get(state.severity, "⚪")
    switch = "🛑 ENGAGED (disconnected from TikTok)" if state.switch_engaged else "🟢 released"
    text = f"{mark} {state.severity.upper()} incident {state.incident_id}: {title} ({state.status})"
    fields = [
        f"*Severity*\n{mark} {state.severity}",
        f"*Status*\n{state.status}",
        f"*Kill switch{' (all apps)' if state.apps else ''}*\n{switch}",
        f"*Report to TikTok*\n{state.report_state}",
        f"*Aware*\n{_time(state.aware_at)}",
        f"*Disconnected*\n{_time(state.disconnected_at)}",
        f"*Revoked*\n{_time(state.revoked_at)}",
        f"*Reported*\n{_time(state.reported_at)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{mark} {title}"[:150]}},
        _mrkdwn(_about(state)),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        *([_mrkdwn(apps_text(state.apps, state.switch_engaged))] if state.apps else []),
        _mrkdwn(f"*Token revocation*: {_revocation_text(state.revocation)}"),
        _mrkdwn(_exposure_text(state)),
    ]
    blocks.append(_mrkdwn(_people_text(state, names or Names(None))))
    if state.checkpoint is not None:  # published outside the store: a cut-off timeline shows
        blocks.append(_mrkdwn(f"*Evidence* {state.checkpoint.line()}"))
    for pending in list(state.approvals)[:10]:
        blocks += pending_blocks(pending)
    controls = [
        _button("Release kill switch", ACTION_RELEASE, state.incident_id)
        if state.switch_engaged
        else _button("Engage kill switch", ACTION_ENGAGE, state.incident_id, "danger"),
        _button("Show timeline", ACTION_TIMELINE, state.incident_id),
    ]
    blocks.append({"type": "actions", "block_id": "controls", "elements": controls})
    return text, blocks


def _modal(
    callback_id: str, metadata: str, title: str, submit: str, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _text_input(block_id: str, action_id: str, label: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "plain_text_input", "action_id": action_id, **options},
    }


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def release_modal(incident_id: str, channel_id: str | None) -> dict[str, Any]:
    """The modal that asks why the kill switch should be released."""
    return _modal(
        RELEASE_MODAL,
        f"{incident_id}|{channel_id or ''}",
        "Release kill switch",
        "Request release",
        [
            _mrkdwn("The app will call TikTok again. A *second person* must approve the release."),
            _text_input(
                RELEASE_REASON_BLOCK,
                RELEASE_REASON_ACTION,
                "Why is it safe to reconnect?",
                multiline=True,
                min_length=3,
            ),
        ],
    )


def manual_modal(
    *, run_id: str, step_id: str, title: str, instructions: str, needs: str | None, channel_id: str | None
) -> dict[str, Any]:
    """The modal that marks a manual step done: its input when it needs one, else an optional note."""
    label = needs.replace("_", " ").capitalize() if needs else "Note"
    field_block = _text_input(MANUAL_INPUT_BLOCK, MANUAL_INPUT_ACTION, label, max_length=500)
    field_block["optional"] = needs is None
    about = redaction.redact_text(instructions or "")[:2800]
    return _modal(
        MANUAL_MODAL,
        f"{run_id}|{step_id}|{channel_id or ''}",
        "Mark step done",
        "Done",
        [
            _mrkdwn(f"*{redaction.redact_text(title)[:300]}*"),
            *([_mrkdwn(about)] if about else []),
            field_block,
        ],
    )


def release_request_message(
    request_id: str, requested_by: str, reason: str, *, app: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The message asking a second person to approve or deny a release (of ``app``'s switch)."""
    why = redaction.redact_text(reason)[:2000]
    which = "the kill switch" if app is None else f"the kill switch of app {app}"
    text = f"<@{requested_by}> asks to release {which} ({request_id}): {why}"
    blocks: list[dict[str, Any]] = [
        _mrkdwn(
            text + "\nA *second person* must approve. If the switch changes before then (released, or"
            " engaged again for another compromise), this request is void: ask again."
        ),
        {
            "type": "actions",
            "block_id": f"release:{request_id}",
            "elements": [
                _button("Approve release", ACTION_RELEASE_APPROVE, request_id, "primary"),
                _button("Deny", ACTION_RELEASE_DENY, request_id, "danger"),
            ],
        },
    ]
    return text, blocks
