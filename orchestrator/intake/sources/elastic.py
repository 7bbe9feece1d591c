"""Elastic Security detection alerts sent by a Kibana webhook connector: one event per alert.

The rule action's body is a template; docs/sources/elastic.md gives one that posts
``{"alerts": {{{context.alerts}}}, ...}``. Accepted shapes: an object with an ``alerts``
list, a list of alert documents, or one alert document. Alert fields are ECS, as dotted keys
(``"kibana.alert.uuid"``) or nested objects. Identity is ``kibana.alert.uuid``; severity is
``kibana.alert.severity``, else the risk score through ``RISK_BANDS``; workflow status
``closed`` or alert status ``recovered`` means resolved. A team's ``FieldMapping`` may
override any path and add severity words.
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
    capped,
    new_event,
    require_object,
)

__all__ = ["ENTITY_PATHS", "RISK_BANDS", "SEVERITIES", "parse"]

SEVERITIES: Final[dict[str, Severity]] = {s.value: s for s in Severity}
# Elastic's default risk scores per severity are 21, 47, 73 and 99.
RISK_BANDS: Final = ((74.0, Severity.CRITICAL), (48.0, Severity.HIGH), (22.0, Severity.MEDIUM),
                     (0.0, Severity.LOW))  # fmt: skip
ENTITY_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "hosts": ("host.name", "host.hostname"),
    "ips": ("host.ip", "source.ip", "destination.ip", "client.ip"),
    "users": ("user.name", "user.target.name"),
    "open_ids": ("tiktok.open_id",),
    "client_keys": ("tiktok.client_key",),
}
_NO_MAPPING: Final = FieldMapping()


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event per alert document."""
    if isinstance(body, dict) and "alerts" in body:
        alerts, common = body["alerts"], {k: v for k, v in body.items() if k != "alerts"}
        if not isinstance(alerts, list):
            raise ValidationFailed("alerts must be a list of alert documents", field="alerts")
        where = "alerts"
    elif isinstance(body, list):
        alerts, common, where = body, {}, ""
    else:
        alerts, common, where = [require_object(body, "body")], {}, ""
    mapping = ctx.mapping or _NO_MAPPING
    return [
        _alert(require_object(alert, f"{where}[{i}]"), common, ctx, mapping, f"{where}[{i}].")
        for i, alert in enumerate(capped(alerts, ctx, "alerts"))
    ]


def _alert(
    alert: dict[str, Any],
    common: dict[str, Any],
    ctx: SourceContext,
    mapping: FieldMapping,
    where: str,
) -> CompromiseEvent:
    def text(path: str, limit: int = 300) -> str | None:
        return normalise.as_text(_scalar(alert, path), field=f"{where}{path}", limit=limit)

    uid = _identity(alert, mapping, where)
    title = (
        text(mapping.title or "kibana.alert.rule.name")
        or text("kibana.alert.reason")
        or normalise.as_text(_scalar(common, "rule.name"), field="rule.name")
    )
    severity = _severity(alert, mapping, ctx.default_severity)
    status_path = mapping.status or "kibana.alert.workflow_status"
    status_word = (text(status_path) or "").lower()
    alert_state = (text("kibana.alert.status") or "").lower()
    resolved = status_word in mapping.resolved_values or alert_state == "recovered"
    status: EventStatus = "resolved" if resolved else "firing"
    observed = None
    for path in (mapping.observed_at, "kibana.alert.original_time", "@timestamp"):
        if path and (observed := normalise.parse_time(_scalar(alert, path), field=f"{where}{path}")):
            break
    found: dict[str, list[str]] = {}
    for name in ENTITY_FIELDS:
        paths = (*mapping.entities.get(name, ()), *ENTITY_PATHS.get(name, ()))
        for path in paths:
            value = normalise.get_path(alert, path)
            items = value if isinstance(value, list) else [value]
            found.setdefault(name, []).extend(
                t for v in items[:50] if isinstance(v, str | int) and (t := normalise.as_text(v, field=path))
            )
    labels = {
        "rule_id": text("kibana.alert.rule.rule_id") or text("kibana.alert.rule.uuid"),
        "risk_score": text("kibana.alert.risk_score"),
        "workflow_status": status_word or None,
        **{name: text(path, 1000) for name, path in mapping.labels.items()},
    }
    link = text("kibana.alert.url", 2048) or normalise.as_text(
        _scalar(common, "results_link"), field="results_link", limit=2048
    )
    return new_event(
        ctx,
        title=title,
        kind=text(mapping.kind) if mapping.kind else None,
        severity=severity,
        status=status,
        observed_at=observed,
        dedup_key=normalise.identity_key(ctx.source, uid),
        entities=found,
        labels={key: value for key, value in labels.items() if value},
        source_ref=text(mapping.source_ref, 2048) if mapping.source_ref else link,
        raw={**common, "alert": alert} if common else alert,
    )


def _identity(alert: dict[str, Any], mapping: FieldMapping, where: str) -> str:
    paths = mapping.dedup_key or ("kibana.alert.uuid", "_id")
    parts = [normalise.as_text(_scalar(alert, p), field=f"{where}{p}", limit=1000) for p in paths]
    if mapping.dedup_key and any(parts):
        return normalise.stable_key(*parts) if len(parts) > 1 else str(parts[0])
    uid = next((p for p in parts if p), None)
    if not uid:
        field = f"{where}{paths[0]}"
        raise ValidationFailed(f"{field} (the alert id) is required", field=field)
    return uid


def _severity(alert: dict[str, Any], mapping: FieldMapping, default: Severity) -> Severity:
    table = {**SEVERITIES, **mapping.severity_map}
    word = _scalar(alert, mapping.severity or "kibana.alert.severity")
    if isinstance(word, str | int | float) and not isinstance(word, bool):
        key = str(word).strip().lower()
        if key in table:
            return table[key]
    risk = _scalar(alert, "kibana.alert.risk_score")
    try:
        score = float(risk) if isinstance(risk, str | int | float) else None
    except ValueError:
        score = None
    if score is None or not 0.0 <= score <= 100.0:
        return default
    return next(level for floor, level in RISK_BANDS if score >= floor)


def _scalar(obj: Any, path: str) -> Any:
    """The value at ``path``; a one-item list (as ECS often holds) counts as its item."""
    value = normalise.get_path(obj, path)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is normalise.MISSING or isinstance(value, dict | list):
        return None
    return value
