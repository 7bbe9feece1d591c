"""The project's own event schema (``generic``), optionally read through a team's field mapping.

Without a mapping the contract is strict: ``title``, ``kind`` and ``severity`` are required
and ``severity``/``status`` must be words of our scale. With a ``FieldMapping`` the team's
paths are read instead, severities go through its table, and a missing kind or severity
falls back to the configured defaults.
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import (
    ENTITY_FIELDS,
    FieldMapping,
    SourceContext,
    new_event,
    require_object,
)

__all__ = ["SEVERITIES", "parse"]

SEVERITIES: Final = {s.value: s for s in Severity}
_STATUSES: Final[dict[str, EventStatus]] = {"firing": "firing", "resolved": "resolved"}


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event from one JSON object in the generic schema."""
    alert = require_object(body, "body")
    mapping = ctx.mapping
    if mapping is None:
        return [_strict(alert, ctx)]
    return [_mapped(alert, ctx, mapping)]


def _strict(alert: dict[str, Any], ctx: SourceContext) -> CompromiseEvent:
    title = _required_text(alert, "title")
    kind = _required_text(alert, "kind", limit=100)
    severity_word = _required_text(alert, "severity").lower()
    severity = SEVERITIES.get(severity_word)
    if severity is None:
        raise ValidationFailed(
            f"severity must be one of {', '.join(SEVERITIES)}, got {severity_word[:40]!r}",
            field="severity",
        )
    status_word = (normalise.as_text(alert.get("status"), field="status") or "firing").lower()
    status = _STATUSES.get(status_word)
    if status is None:
        raise ValidationFailed(f"status must be firing or resolved, got {status_word[:40]!r}", field="status")
    entities = _entities(alert.get("entities"))
    return new_event(
        ctx,
        title=title,
        kind=kind,
        severity=severity,
        status=status,
        observed_at=normalise.parse_time(alert.get("observed_at"), field="observed_at"),
        dedup_key=_dedup_key(alert.get("dedup_key"), "dedup_key", kind, title, entities),
        entities=entities,
        labels=_labels(alert.get("labels")),
        source_ref=normalise.as_text(alert.get("source_ref"), field="source_ref", limit=2048),
        raw=alert,
    )


def _mapped(alert: dict[str, Any], ctx: SourceContext, mapping: FieldMapping) -> CompromiseEvent:
    def value(path: str | None, native: str) -> Any:
        return normalise.get_path(alert, path or native)

    title_path = mapping.title or "title"
    title = normalise.as_text(value(mapping.title, "title"), field=title_path)
    if not title:
        raise ValidationFailed(f"{title_path} is required", field=title_path)
    kind = (
        normalise.as_text(value(mapping.kind, "kind"), field=mapping.kind or "kind", limit=100)
        or ctx.default_kind
    )
    table = {**SEVERITIES, **mapping.severity_map}
    severity = normalise.map_severity(value(mapping.severity, "severity"), table, ctx.default_severity)
    status_path = mapping.status or "status"
    status_word = normalise.as_text(value(mapping.status, "status"), field=status_path) or ""
    status: EventStatus = "resolved" if status_word.lower() in mapping.resolved_values else "firing"
    entities = _entities(alert.get("entities"))
    for name, paths in mapping.entities.items():
        for path in paths:
            found = normalise.text_list(normalise.get_path(alert, path), field=path)
            entities[name] = list(dict.fromkeys([*entities.get(name, []), *found]))
    labels = _labels(alert.get("labels"))
    for name, path in mapping.labels.items():
        label = normalise.as_text(normalise.get_path(alert, path), field=path, limit=1000)
        if label is not None:
            labels[name] = label
    if mapping.dedup_key:
        parts = [normalise.get_path(alert, p) for p in mapping.dedup_key]
        present = [p for p in parts if p is not normalise.MISSING and p is not None]
        identity = normalise.identity_key("generic", *parts) if present else None
    else:
        identity = None
    dedup_key = identity or _dedup_key(alert.get("dedup_key"), "dedup_key", kind, title, entities)
    return new_event(
        ctx,
        title=title,
        kind=kind,
        severity=severity,
        status=status,
        observed_at=normalise.parse_time(
            value(mapping.observed_at, "observed_at"), field=mapping.observed_at or "observed_at"
        ),
        dedup_key=dedup_key,
        entities=entities,
        labels=labels,
        source_ref=normalise.as_text(
            value(mapping.source_ref, "source_ref"),
            field=mapping.source_ref or "source_ref",
            limit=2048,
        ),
        raw=alert,
    )


def _required_text(alert: dict[str, Any], name: str, *, limit: int = 300) -> str:
    text = normalise.as_text(alert.get(name), field=name, limit=limit)
    if not text:
        raise ValidationFailed(f"{name} is required and must be a non-empty string", field=name)
    return text


def _entities(value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("entities must be an object of string lists", field="entities")
    return {
        name: normalise.text_list(value.get(name), field=f"entities.{name}")
        for name in ENTITY_FIELDS
        if name in value
    }


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("labels must be an object of strings", field="labels")
    labels: dict[str, str] = {}
    for key, item in list(value.items())[:64]:
        text = normalise.as_text(item, field=f"labels.{key[:60]}", limit=1000)
        if text is not None:
            labels[key] = text
    return labels


def _dedup_key(given: Any, field: str, kind: str, title: str, entities: dict[str, list[str]]) -> str:
    """The sender's key verbatim (so teams can correlate across tools), else a stable hash of
    kind, title and the sorted entities."""
    text = normalise.as_text(given, field=field, limit=10_000)
    if text:
        return text if len(text) <= normalise.KEY_LIMIT else normalise.identity_key("generic", text)
    ordered = {name: sorted(values) for name, values in sorted(entities.items()) if values}
    return "generic:" + normalise.stable_key(kind, title, ordered)
