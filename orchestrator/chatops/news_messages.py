"""Block Kit builders, pure: what an incident's room is told (``room_news.py`` reads the facts).

A run's end with the reason it failed; a step waiting for a person, with its buttons and its
deadline; the decision that replaces those buttons (who, when); a reminder. Every text passes
through the redactor: an error or an input may carry what a person pasted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from orchestrator import redaction
from orchestrator.chatops import cards

__all__ = [
    "Message",
    "approval_asked",
    "decided",
    "manual_asked",
    "release_decided",
    "reminder",
    "run_finished",
    "said",
]

Message = tuple[str, list[dict[str, Any]] | None]
"""The notification text and the blocks (None: the text alone)."""

_ERROR_CHARS: Final = 300
_SLACK_ID: Final = re.compile(r"[UWS][A-Z0-9]{2,}")
_DEADLINES: Final = {
    "approve": "it approves itself",
    "deny": "it is denied",
    "abort": "the run stops",
}
_DECISIONS: Final = {"approved": "✅ approved", "denied": "❌ denied", "aborted": "⛔ aborted"}


def _person(actor: str | None) -> str:
    """How Slack shows who acted: a Slack user as a mention, the deadline as such, others by name."""
    if not actor:
        return "someone"
    if actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>"
    return "the deadline" if actor == "system:timeout" else actor


def _named(names: Sequence[str], nobody_in_particular: str) -> str:
    """A step's approvers or assignees as Slack shows them: people and user groups mentioned."""
    shown = []
    for name in names:
        if name == "any":
            shown.append(nobody_in_particular)
        elif _SLACK_ID.fullmatch(name):
            shown.append(f"<!subteam^{name}>" if name.startswith("S") else f"<@{name}>")
        else:
            shown.append(name)
    return ", ".join(dict.fromkeys(shown))


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 0)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def said(text: str) -> Message:
    """A plain text (a command's reply told to the room), redacted."""
    return redaction.redact_text(text), None


def _with_section(text: str, blocks: list[dict[str, Any]]) -> Message:
    shown = redaction.redact_text(text)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": shown[:3000]}}
    return shown, [section, *redaction.redact(blocks)]


def run_finished(
    *, playbook: str, run_id: str, status: str, started_by: str, failures: Sequence[tuple[str, str]]
) -> Message:
    """A run's end; a failed run names each failed step and its error."""
    head = f"*{playbook}* (`{run_id}`, started by {_person(started_by)})"
    if status == "succeeded":
        return said(f"✅ Playbook {head} succeeded.")
    if status == "cancelled":
        return said(f"⏹️ Playbook {head} was cancelled.")
    reasons = "; ".join(f"step `{step}`: {error[:_ERROR_CHARS]}" for step, error in failures)
    return said(f"❌ Playbook {head} {status}: {reasons or 'no step recorded why'}")


def approval_asked(
    pending: cards.PendingApproval,
    *,
    approvers: Sequence[str],
    asked_at: datetime,
    deadline: datetime,
    on_timeout: str,
) -> Message:
    """The ask with Approve / Deny, and what the deadline does when nobody decides."""
    then = _DEADLINES.get(on_timeout, "it is denied")
    text = (
        f"⏳ Step `{pending.step_id}` of *{pending.playbook}* (`{pending.run_id}`) waits for approval "
        f"by {_named(approvers, 'anyone')}: {then} at {_clock(deadline)} "
        f"(in {_span((deadline - asked_at).total_seconds())}) unless someone decides."
    )
    return _with_section(text, cards.pending_blocks(pending))


def manual_asked(pending: cards.PendingApproval, *, instructions: str, assignees: Sequence[str]) -> Message:
    """The ask of a manual step with its instructions and its Done button."""
    title = pending.manual_title or pending.step_id
    who = _named(assignees, "a person")
    text = f"🖐 To do by {who}: *{title}* (step `{pending.step_id}` of `{pending.run_id}`)"
    if instructions:
        text += f"\n{instructions[:2000]}"
    return _with_section(text, cards.pending_blocks(pending))


def decided(
    *,
    playbook: str,
    run_id: str,
    step_id: str,
    title: str | None,
    decision: str,
    by: str | None,
    at: datetime,
    given: str | None = None,
) -> Message:
    """What replaces the buttons once a step is decided or done: the outcome, who and when."""
    if title is not None:
        shown = f" ({given})" if given else ""
        text = f"✅ *{title}*{shown} done by {_person(by)} at {_clock(at)} (step `{step_id}` of `{run_id}`)"
    else:
        word = _DECISIONS.get(decision, decision)
        text = f"{word}: step `{step_id}` of *{playbook}* (`{run_id}`), by {_person(by)} at {_clock(at)}"
    return _with_section(text, [])


def reminder(*, title: str, step_id: str, run_id: str, waited: float | None, needs: str | None) -> Message:
    """A manual step still to do: how long it has waited and how to mark it done."""
    since = f" for {_span(waited)}" if waited is not None else ""
    value = f" {needs.upper()}" if needs else ""
    return said(
        f"⏰ Reminder: *{title}* has waited{since} (step `{step_id}` of `{run_id}`). "
        f"Done? Click its Done button, or `/ir done {run_id} {step_id}{value}`."
    )


def release_decided(approved: bool, user_id: str, requested_by: str, at: datetime) -> Message:
    """What replaces a release request's buttons once a second person decided it."""
    if approved:
        text = f"🟢 Release approved by <@{user_id}> at {_clock(at)}: the kill switch is released"
    else:
        text = f"❌ Release denied by <@{user_id}> at {_clock(at)}: the kill switch stays engaged"
    return _with_section(f"{text} (asked by <@{requested_by}>).", [])
