"""`/ir declare`, `/ir resolve|close` and `/ir severity`: an incident's life from Slack, not only the CLI.

A declared incident is an event like any detector's (source ``slack``, kind
``incident.declared``, its own alert identity), accepted in one commit: it correlates and runs
the playbooks its severity matches (a critical one engages the kill switch), so a person who sees
a compromise first goes through exactly the path a detector would.
"""

from __future__ import annotations

from orchestrator import clock, ids, redaction
from orchestrator.chatops import targets
from orchestrator.errors import ValidationFailed
from orchestrator.events.accept import accept_events
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.incidents import lifecycle
from orchestrator.ports import Ports

__all__ = ["DECLARED_KIND", "change_severity", "declare", "end"]

DECLARED_KIND = "incident.declared"
_DEFAULT_SEVERITY = Severity.HIGH
_SEVERITIES = {s.value: s for s in Severity}


def declare(runtime: Ports, actor: str, raw: str) -> tuple[str, str]:
    """``/ir declare TITLE [SEVERITY]``: accept a hand-declared event; (title, severity) for the reply."""
    words = raw.split()[1:]
    severity = _DEFAULT_SEVERITY
    if len(words) > 1 and words[-1].lower() in _SEVERITIES:
        severity = _SEVERITIES[words.pop().lower()]
    title = redaction.redact_text(" ".join(words))[:300]
    if not title:
        raise ValidationFailed(
            "give it a title: `/ir declare TikTok secret found in a public repo critical` "
            f"(severity last, one of {', '.join(_SEVERITIES)}; default {_DEFAULT_SEVERITY.value})"
        )
    now = clock.utcnow()
    event = CompromiseEvent(
        source="slack",
        kind=DECLARED_KIND,
        severity=severity,
        title=title,
        observed_at=now,
        received_at=now,
        dedup_key=f"slack-declared-{ids.random_hex()}",
        labels={"declared_by": actor},
    )
    accept_events(runtime.store, [event], now=now)
    return title, severity.value


_ENDINGS = {"resolve": lifecycle.resolve_incident, "close": lifecycle.close_incident}


def end(runtime: Ports, verb: str, actor: str, channel_id: str | None, raw: str) -> str:
    """``/ir resolve|close [INCIDENT] SUMMARY`` (``verb``); the incident it resolved or closed
    (closing needs it resolved first)."""
    incident_id, summary = targets.incident_and_rest(runtime, channel_id, raw)
    if incident_id is None or not summary:
        raise ValidationFailed(
            f"`/ir {verb} INCIDENT SUMMARY` (in the incident's room: `/ir {verb} SUMMARY`), "
            f"e.g. `/ir {verb} inc-1a2b3c secret rotated, tokens revoked, TikTok informed`"
        )
    with runtime.transaction() as session:  # a resolution's pages are resolved once it commits
        _ENDINGS[verb](session, incident_id=incident_id, summary=summary, actor=actor, now=clock.utcnow())
    return incident_id


def change_severity(
    runtime: Ports, actor: str, channel_id: str | None, raw: str
) -> tuple[str, Severity, Severity]:
    """``/ir severity [INCIDENT] LEVEL``: (incident, severity before, severity now)."""
    incident_id, given = targets.incident_and_rest(runtime, channel_id, raw)
    level = _SEVERITIES.get(given.strip().lower())
    if incident_id is None or level is None:
        raise ValidationFailed(
            f"`/ir severity [INCIDENT] LEVEL`, LEVEL one of {', '.join(_SEVERITIES)}, e.g. "
            "`/ir severity inc-1a2b3c critical` (in the incident's room: `/ir severity critical`)"
        )
    with runtime.store.unit_of_work() as session:
        before = lifecycle.set_severity(
            session, incident_id=incident_id, severity=level, actor=actor, now=clock.utcnow()
        )
    return incident_id, before, level
