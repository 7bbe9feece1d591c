"""PagerDuty webhooks v3: one ``event`` per delivery, about one incident.

Incident events (``incident.triggered``, ``incident.resolved``, ``incident.annotated``...)
give one compromise event whose identity is the incident id (``event.data.id``, or
``event.data.incident.id`` for notes, responders and status updates), never ``event.id``
or the ``X-Webhook-Id`` delivery id. Severity is the incident priority (``P1``...) through
``PRIORITIES``, else its urgency. Events about other resources (services, pings) give no
event: they are acknowledged, since a 4xx would make PagerDuty drop and then disable the
subscription.
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import SourceContext, new_event, require_object

__all__ = ["PRIORITIES", "URGENCIES", "parse"]

PRIORITIES: Final[dict[str, Severity]] = {
    "p1": Severity.CRITICAL,
    "p2": Severity.HIGH,
    "p3": Severity.MEDIUM,
    "p4": Severity.LOW,
    "p5": Severity.INFO,
}
URGENCIES: Final[dict[str, Severity]] = {"high": Severity.HIGH, "low": Severity.LOW}


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event for an incident event; none for other resource types."""
    event = require_object(require_object(body, "body").get("event"), "event")
    event_type = normalise.as_text(event.get("event_type"), field="event.event_type") or ""
    if not event_type.startswith("incident."):
        return []
    data = require_object(event.get("data"), "event.data")
    incident = data if data.get("type", "incident") == "incident" else data.get("incident")
    incident = require_object(incident, "event.data.incident")
    incident_id = normalise.as_text(incident.get("id"), field="event.data.id")
    if not incident_id:
        raise ValidationFailed("event.data.id (the incident id) is required", field="event.data.id")
    status: EventStatus = "resolved" if event_type == "incident.resolved" else "firing"
    priority = incident.get("priority")
    priority_word = priority.get("summary") if isinstance(priority, dict) else None
    if isinstance(priority_word, str) and priority_word.strip().lower() in PRIORITIES:
        severity = PRIORITIES[priority_word.strip().lower()]
    else:
        severity = normalise.map_severity(incident.get("urgency"), URGENCIES, ctx.default_severity)
    service = incident.get("service")
    labels = {
        "event_type": event_type,
        "incident_number": incident.get("number"),
        "urgency": incident.get("urgency"),
        "priority": priority_word,
        "service": service.get("summary") if isinstance(service, dict) else None,
    }
    return [
        new_event(
            ctx,
            title=normalise.as_text(
                incident.get("title") or incident.get("summary"), field="event.data.title"
            ),
            severity=severity,
            status=status,
            observed_at=normalise.parse_time(event.get("occurred_at"), field="event.occurred_at"),
            dedup_key=normalise.identity_key(ctx.source, incident_id),
            labels={
                key: text
                for key, value in labels.items()
                if not isinstance(value, dict | list) and (text := normalise.as_text(value, field=key))
            },
            source_ref=normalise.as_text(incident.get("html_url"), field="event.data.html_url", limit=2048),
            raw=body,
        )
    ]
