"""Microsoft Sentinel incidents, as the Logic Apps "Microsoft Sentinel incident" trigger gives them.

The playbook posts the trigger body: the incident under ``object`` (ARM ``id``, ``name``,
``properties``), its entities in ``object.properties.relatedEntities``. Identity is the
incident's ARM name (a GUID; every create and update of one incident shares it); severity
is ``properties.severity`` through ``SEVERITIES``; status ``Closed`` means resolved.
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import SourceContext, new_event, require_object

__all__ = ["SEVERITIES", "parse"]

SEVERITIES: Final[dict[str, Severity]] = {
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "informational": Severity.INFO,
}
_ENTITY_FIELDS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "account": ("users", ("userPrincipalName", "accountName", "friendlyName")),
    "host": ("hosts", ("hostName", "netBiosName", "friendlyName")),
    "ip": ("ips", ("address", "friendlyName")),
}


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event for the incident."""
    envelope = require_object(body, "body")
    incident = envelope.get("object", envelope if "properties" in envelope else None)
    incident = require_object(incident, "object")
    props = require_object(incident.get("properties", {}), "object.properties")
    identity = normalise.as_text(incident.get("name"), field="object.name") or normalise.as_text(
        incident.get("id"), field="object.id", limit=2000
    )
    if not identity:
        raise ValidationFailed("object.name (the incident id) is required", field="object.name")
    status_word = normalise.as_text(props.get("status"), field="object.properties.status") or ""
    status: EventStatus = "resolved" if status_word.lower() == "closed" else "firing"
    times = ("lastModifiedTimeUtc",) if status == "resolved" else ()
    observed = None
    for key in (*times, "firstActivityTimeUtc", "createdTimeUtc"):
        observed = normalise.parse_time(props.get(key), field=f"object.properties.{key}")
        if observed:
            break
    labels = {
        "incident_number": props.get("incidentNumber"),
        "provider": props.get("providerName"),
        "classification": props.get("classification"),
        "status": status_word,
    }
    return [
        new_event(
            ctx,
            title=normalise.as_text(props.get("title"), field="object.properties.title"),
            severity=normalise.map_severity(props.get("severity"), SEVERITIES, ctx.default_severity),
            status=status,
            observed_at=observed,
            dedup_key=normalise.identity_key(ctx.source, identity),
            entities=_entities(props.get("relatedEntities")),
            labels={
                key: text
                for key, value in labels.items()
                if not isinstance(value, dict | list) and (text := normalise.as_text(value, field=key))
            },
            source_ref=normalise.as_text(
                props.get("incidentUrl"), field="object.properties.incidentUrl", limit=2048
            ),
            raw=body,
        )
    ]


def _entities(related: Any) -> dict[str, list[str]]:
    """Accounts, hosts and IPs from ``relatedEntities``; other kinds stay in the raw body."""
    found: dict[str, list[str]] = {}
    if not isinstance(related, list):
        return found
    for entity in related[:500]:
        if not isinstance(entity, dict):
            continue
        props = entity.get("properties")
        kind = str(entity.get("kind") or "").lower()
        if kind not in _ENTITY_FIELDS or not isinstance(props, dict):
            continue
        name, keys = _ENTITY_FIELDS[kind]
        value = next((props[k] for k in keys if isinstance(props.get(k), str) and props[k]), None)
        if value and kind == "account" and "@" not in value and isinstance(props.get("upnSuffix"), str):
            value = f"{value}@{props['upnSuffix']}"
        text = normalise.as_text(value, field="relatedEntities", limit=200)
        if text and text not in found.setdefault(name, []):
            found[name].append(text)
    return found
