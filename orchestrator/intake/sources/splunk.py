"""Splunk's built-in webhook alert action: one event per delivery, about the first result row.

The body carries ``sid``, ``search_name``, ``app``, ``owner``, ``results_link`` and
``result`` (the first result row, every value a string). ``sid`` changes on every run, so
the identity is the row's own ``dedup_key`` field when the search sets one
(``| eval dedup_key=...``), else the app and search name. Severity comes from the row's
``severity`` or ``urgency`` field (Enterprise Security notables); Splunk usually sends none.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent
from orchestrator.intake.sources import (
    SourceContext,
    entities_from_labels,
    new_event,
    require_object,
    string_map,
)
from orchestrator.intake.sources.alertmanager import LABEL_SEVERITIES

__all__ = ["parse"]


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event for the alert's first result row."""
    alert = require_object(body, "body")
    search_name = normalise.as_text(alert.get("search_name"), field="search_name")
    if not search_name:
        raise ValidationFailed("search_name is required", field="search_name")
    app = normalise.as_text(alert.get("app"), field="app") or ""
    owner = normalise.as_text(alert.get("owner"), field="owner") or ""
    result = alert.get("result")
    row = string_map(result, field="result", limit=500)
    severity_word = row.get("severity") or row.get("urgency")
    given_key = row.get("dedup_key")
    identity = (
        normalise.identity_key(ctx.source, given_key)
        if given_key
        else normalise.identity_key(ctx.source, app, search_name)
    )
    labels = {"app": app, "owner": owner, "search_name": search_name}
    return [
        new_event(
            ctx,
            title=row.get("title") or search_name,
            kind=row.get("kind"),
            severity=normalise.map_severity(severity_word, LABEL_SEVERITIES, ctx.default_severity),
            observed_at=normalise.parse_time(row.get("_time"), field="result._time"),
            dedup_key=identity,
            entities=entities_from_labels(result or {}),
            labels={key: value for key, value in labels.items() if value},
            source_ref=normalise.as_text(alert.get("results_link"), field="results_link", limit=2048),
            raw=alert,
        )
    ]
