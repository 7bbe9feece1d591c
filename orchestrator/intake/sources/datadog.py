"""Datadog webhook integration bodies: the default payload plus the ``$ALERT_*`` variables.

Datadog's payload is a template the team writes; keys are read case-insensitively under the
variable's own name (``alert_cycle_key`` for ``$ALERT_CYCLE_KEY``, ``title`` for
``$EVENT_TITLE``...; see docs/sources/datadog.md). Every value arrives as a string, dates in
epoch milliseconds, and a variable Datadog could not fill stays as ``$NAME`` (read as
absent). Identity is ``$ALERT_CYCLE_KEY`` (one alert from trigger to recovery), else
``$AGGREG_KEY``, else the title without its ``[Triggered]``-style prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import (
    SourceContext,
    entities_from_labels,
    new_event,
    require_object,
)

__all__ = ["ALERT_TYPES", "PRIORITIES", "SIGNAL_SEVERITIES", "parse"]

PRIORITIES: Final[dict[str, Severity]] = {
    "p1": Severity.CRITICAL,
    "p2": Severity.HIGH,
    "p3": Severity.MEDIUM,
    "p4": Severity.LOW,
    "p5": Severity.INFO,
}
SIGNAL_SEVERITIES: Final[dict[str, Severity]] = {s.value: s for s in Severity}
ALERT_TYPES: Final[dict[str, Severity]] = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
    "success": Severity.INFO,
}
_UNFILLED = re.compile(r"^\$[A-Z][A-Z0-9_]*$")
_PREFIX = re.compile(r"^\s*(\[[^\]]{0,200}\]\s*)+")
_RECOVERED = ("recovered", "success")


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event per notification."""
    payload = {str(k).lower(): v for k, v in require_object(body, "body").items()}

    def text(key: str, limit: int = 300) -> str | None:
        value = normalise.as_text(payload.get(key), field=key, limit=limit)
        return None if value is None or _UNFILLED.match(value) else value

    title = text("alert_title") or text("title") or text("event_title")
    transition = (text("alert_transition") or "").lower()
    alert_type = (text("alert_type") or "").lower()
    tags = _tags(text("tags", limit=4000)) | _tags(text("alert_scope", limit=4000))
    recovered = transition.startswith(_RECOVERED) or (
        not transition and (alert_type == "success" or (title or "").lower().startswith("[recovered"))
    )
    status: EventStatus = "resolved" if recovered else "firing"
    severity = _severity(text, ctx.default_severity)
    identity = text("alert_cycle_key") or text("aggreg_key") or text("security_signal_id")
    if not identity:
        monitor = text("alert_id")
        bare_title = _PREFIX.sub("", title or "")
        identity = normalise.stable_key(monitor, bare_title, text("alert_scope", 4000))
    observed = normalise.parse_time(
        text("date") or text("last_updated"), field="date" if text("date") else "last_updated"
    )
    found = entities_from_labels(tags)
    if hostname := text("hostname"):
        found["hosts"] = [hostname, *found.get("hosts", [])]
    labels = {
        key: value
        for key, value in {
            "monitor_id": text("alert_id"),
            "priority": text("alert_priority"),
            "transition": text("alert_transition"),
            "alert_type": text("alert_type"),
            "event_type": text("event_type"),
            **{f"tag.{k}": v for k, v in list(tags.items())[:40]},
        }.items()
        if value
    }
    return [
        new_event(
            ctx,
            title=title,
            kind=tags.get("kind"),
            severity=severity,
            status=status,
            observed_at=observed,
            dedup_key=normalise.identity_key(ctx.source, identity),
            entities=found,
            labels=labels,
            source_ref=text("link", limit=2048),
            raw=body,
        )
    ]


def _severity(text: Callable[[str], str | None], default: Severity) -> Severity:
    """The first of signal severity, monitor priority and alert type that the tables know."""
    for key, table in (
        ("security_signal_severity", SIGNAL_SEVERITIES),
        ("alert_priority", PRIORITIES),
        ("alert_type", ALERT_TYPES),
    ):
        word = (text(key) or "").strip().lower()
        if word in table:
            return table[word]
    return default


def _tags(value: str | None) -> dict[str, str]:
    """``"env:prod, host:web-1, team"`` -> ``{"env": "prod", "host": "web-1"}``."""
    tags: dict[str, str] = {}
    for item in (value or "").split(","):
        key, sep, tag_value = item.strip().partition(":")
        if sep and key and tag_value and key not in tags:
            tags[key] = tag_value
    return tags
