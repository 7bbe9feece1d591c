"""Prometheus Alertmanager ``webhook_config`` bodies (version 4): one event per grouped alert.

Identity is the alert's ``fingerprint`` (a hash of its label set, stable across resends and
across firing/resolved); severity comes from the ``severity`` label through
``LABEL_SEVERITIES``; an alert is resolved when its own ``status`` says so (``endsAt`` of
``0001-01-01T00:00:00Z`` means still firing). Grafana's contact point reuses this reader.
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import (
    SourceContext,
    capped,
    entities_from_labels,
    new_event,
    require_object,
    string_map,
)

__all__ = ["LABEL_SEVERITIES", "SEVERITY_LABELS", "alert_event", "group_raw", "parse"]

# Words seen in ``severity``/``priority`` labels across Prometheus rule sets and on-call tools.
LABEL_SEVERITIES: Final[dict[str, Severity]] = {
    **dict.fromkeys(("critical", "crit", "emergency", "fatal", "page", "p1", "sev1"), Severity.CRITICAL),
    **dict.fromkeys(("disaster", "alert", "sev0", "p0"), Severity.CRITICAL),
    **dict.fromkeys(("high", "error", "err", "major", "p2", "sev2"), Severity.HIGH),
    **dict.fromkeys(("warning", "warn", "medium", "moderate", "average", "p3", "sev3"), Severity.MEDIUM),
    **dict.fromkeys(("low", "minor", "notice", "p4", "sev4"), Severity.LOW),
    **dict.fromkeys(("info", "informational", "information", "none", "debug", "p5"), Severity.INFO),
    **dict.fromkeys(("ok", "sev5"), Severity.INFO),
}  # fmt: skip
SEVERITY_LABELS: Final = ("severity", "priority", "level")
_ZERO_TIME: Final = "0001-01-01T00:00:00Z"
_GROUP_RAW_LIMIT: Final = 16 * 1024


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event per entry of ``alerts``."""
    group = require_object(body, "body")
    shared = group_raw(group)
    return [alert_event(alert, group, ctx, index, shared) for index, alert in _alerts(group, ctx)]


def group_raw(group: dict[str, Any]) -> dict[str, Any]:
    """The group's own fields, bounded and redacted once for all its alerts."""
    bounded = normalise.bound_raw(
        {key: value for key, value in group.items() if key != "alerts"}, limit=_GROUP_RAW_LIMIT
    )
    return bounded if isinstance(bounded, dict) else {}


def _alerts(group: dict[str, Any], ctx: SourceContext) -> list[tuple[int, dict[str, Any]]]:
    alerts = group.get("alerts")
    if not isinstance(alerts, list):
        raise ValidationFailed("alerts must be a list of alerts", field="alerts")
    return [(i, require_object(a, f"alerts[{i}]")) for i, a in enumerate(capped(alerts, ctx, "alerts"))]


def alert_event(
    alert: dict[str, Any],
    group: dict[str, Any],
    ctx: SourceContext,
    index: int,
    shared: dict[str, Any] | None = None,
) -> CompromiseEvent:
    """Normalise one alert of an Alertmanager-shaped group (shared with Grafana)."""
    where = f"alerts[{index}]"
    labels = string_map(alert.get("labels"), field=f"{where}.labels")
    annotations = string_map(alert.get("annotations"), field=f"{where}.annotations")
    common = string_map(group.get("commonLabels"), field="commonLabels")
    status = _status(alert, group, where)
    starts = normalise.parse_time(alert.get("startsAt"), field=f"{where}.startsAt")
    ends_raw = alert.get("endsAt")
    ends = None
    if ends_raw != _ZERO_TIME:
        ends = normalise.parse_time(ends_raw, field=f"{where}.endsAt")
    if ends is not None and ends.year <= 1:
        ends = None
    title = (
        annotations.get("summary")
        or annotations.get("title")
        or labels.get("alertname")
        or annotations.get("description")
    )
    severity_word = next((labels[k] for k in SEVERITY_LABELS if k in labels), None)
    if severity_word is None:
        severity_word = next((common[k] for k in SEVERITY_LABELS if k in common), None)
    fingerprint = normalise.as_text(alert.get("fingerprint"), field=f"{where}.fingerprint")
    identity = fingerprint or normalise.stable_key(sorted(labels.items()))
    raw = dict(shared if shared is not None else group_raw(group))
    raw["alert"] = normalise.bound_raw(alert, limit=normalise.RAW_LIMIT_BYTES - _GROUP_RAW_LIMIT)
    return new_event(
        ctx,
        title=title,
        kind=labels.get("kind"),
        severity=normalise.map_severity(severity_word, LABEL_SEVERITIES, ctx.default_severity),
        status=status,
        observed_at=(ends if status == "resolved" and ends else starts),
        dedup_key=normalise.identity_key(ctx.source, identity),
        entities=entities_from_labels(labels),
        labels=labels,
        source_ref=normalise.as_text(alert.get("generatorURL"), field=f"{where}.generatorURL", limit=2048),
        raw=raw,
        raw_is_bounded=True,
    )


def _status(alert: dict[str, Any], group: dict[str, Any], where: str) -> EventStatus:
    word = normalise.as_text(alert.get("status"), field=f"{where}.status") or (
        normalise.as_text(group.get("status"), field="status") or "firing"
    )
    return "resolved" if word.lower() == "resolved" else "firing"
