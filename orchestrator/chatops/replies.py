"""What every `/ir` command shares: who called it, what Slack shows back, and its timeline entry.

Kept apart from the dispatcher so the command modules (read, run, switch, lifecycle) and the
buttons can build replies without importing each other.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator import redaction
from orchestrator.errors import ValidationFailed
from orchestrator.ports import Ports
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN

__all__ = ["Caller", "Reply", "record", "words"]

_CURLY_QUOTES: Final = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


@dataclass(frozen=True)
class Caller:
    """Who sent the command and from where."""

    user_id: str
    channel_id: str | None = None

    @property
    def actor(self) -> str:
        return f"slack:{self.user_id}"


@dataclass
class Reply:
    """What Slack shows; ``public`` posts in the channel, else only the caller sees it."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    public: bool = False
    chain: str | None = field(default=None, repr=False)
    incident_id: str | None = field(default=None, repr=False)
    error: str | None = field(default=None, repr=False)  # set when the command was refused or failed
    to_room: bool = field(default=False, repr=False)
    """Typed outside the incident's room, the reply is told in the room too (``room_news``)."""

    def as_slack(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "response_type": "in_channel" if self.public else "ephemeral",
            "text": redaction.redact_text(self.text),
        }
        if self.blocks:
            body["blocks"] = redaction.redact(self.blocks)
        return body


def record(
    runtime: Ports, *, caller: Caller, kind: str, chain: str | None, message: str, data: dict[str, Any]
) -> None:
    """One timeline entry for a Slack action, with the Slack user id."""
    with runtime.transaction() as session:
        timeline.append_entry(
            session,
            chain=chain or SYSTEM_CHAIN,
            actor=caller.actor,
            kind=kind,
            message=message,
            data={"slack_user": caller.user_id, **data},
        )


def words(text: str) -> list[str]:
    """Split ``/ir run`` inputs like a shell, so ``text="Legal informed, customers next"`` is one
    value (Slack's curly quotes count as quotes); an unclosed quote is a mistake to name. Only
    inputs: a note's "don't" must not open a quote."""
    try:
        return shlex.split(text.translate(_CURLY_QUOTES))
    except ValueError as exc:
        raise ValidationFailed(f'{exc}: close the quote, e.g. `text="two words"`') from None
