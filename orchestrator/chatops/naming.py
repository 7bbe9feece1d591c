"""An incident room's name and topic, pure: what a person scanning the channel list reads first.

Slack's channel names are lower case, at most 80 characters, of ``a-z``, ``0-9``, ``-`` and
``_``, and unique in the workspace. The default pattern names the room after the incident's day
and title (``ir-2026-12-06-tiktok-secret-leaked``); two incidents with one title on one day get
``-2``, ``-3``... (``candidates``). The topic carries the incident id, which is how a redone step
knows a taken name is its own room.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from orchestrator import redaction

__all__ = ["MAX_NAME", "MAX_SUFFIXES", "candidates", "channel_name", "is_own_room", "room_topic"]

MAX_NAME = 80
MAX_SUFFIXES = 50
"""Names tried before giving up (``name``, ``name-2`` ... ``name-50``)."""

_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")


def _slug(text: str) -> str:
    return _NOT_ALLOWED.sub("-", text.lower()).strip("-_")


def _fit(name: str, limit: int) -> str:
    """``name`` within ``limit`` characters, cut at a word's end when it must be cut."""
    if len(name) <= limit:
        return name
    cut = name[:limit]
    if name[limit] not in "-_" and "-" in cut:
        cut = cut.rsplit("-", 1)[0]
    return cut.rstrip("-_")


def channel_name(pattern: str, *, incident_id: str, title: str, aware_at: datetime) -> str:
    """``pattern`` with ``{incident_id}``, ``{date}`` (the day of awareness, UTC) and ``{title}``
    (its words, secrets masked) filled in, made a valid Slack channel name."""
    words = _slug(redaction.redact_text(title).replace(redaction.REDACTED, ""))
    raw = (
        pattern.replace("{incident_id}", incident_id)
        .replace("{date}", aware_at.strftime("%Y-%m-%d"))
        .replace("{title}", words or incident_id)
    )
    return _fit(_slug(raw), MAX_NAME) or _fit(_slug(incident_id), MAX_NAME)


def candidates(name: str) -> Iterator[str]:
    """``name``, then ``name-2``, ``name-3``...: each within Slack's 80 characters."""
    yield name
    for n in range(2, MAX_SUFFIXES + 1):
        suffix = f"-{n}"
        yield _fit(name, MAX_NAME - len(suffix)) + suffix


def room_topic(*, incident_id: str, severity: str, title: str, kind: str) -> str:
    """The channel topic: severity, title, kind and the incident id (what makes the room ours)."""
    text = f"{severity.upper()} · {redaction.redact_text(title)} · {kind}"
    tail = f" · {incident_id}"
    return text[: 250 - len(tail)] + tail


def is_own_room(*, name: str, topic: str, incident_id: str) -> bool:
    """Whether an existing channel is this incident's room: its name or its topic names it."""
    return incident_id in name or incident_id in topic
