"""Grafana Alerting webhook contact point bodies: one event per alert of the notification.

Grafana's body is Alertmanager's version 4 shape plus ``orgId``, ``title``, ``state``,
``message`` and per-alert ``values``, ``silenceURL``, ``dashboardURL`` and ``panelURL``;
each alert is read as in ``alertmanager`` (identity ``fingerprint``, severity from the
``severity`` label, ``status`` ``resolved`` means resolved).
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.intake.sources import SourceContext, capped, require_object
from orchestrator.intake.sources.alertmanager import alert_event, group_raw

__all__ = ["parse"]


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event per entry of ``alerts``."""
    group = require_object(body, "body")
    alerts = group.get("alerts")
    if not isinstance(alerts, list):
        raise ValidationFailed("alerts must be a list of alerts", field="alerts")
    shared = group_raw(group)
    events = []
    for index, item in enumerate(capped(alerts, ctx, "alerts")):
        alert = require_object(item, f"alerts[{index}]")
        if not alert.get("generatorURL"):
            alert = {**alert, "generatorURL": alert.get("panelURL") or alert.get("dashboardURL")}
        events.append(alert_event(alert, group, ctx, index, shared))
    return events
