"""Falco events as Falcosidekick's webhook output posts them (Falco's JSON output).

The body carries ``rule``, ``priority``, ``time`` (RFC 3339, nanoseconds), ``output`` (the
formatted line: command lines, often secrets; kept only in the redacted raw body, never in
the title), ``output_fields`` (``evt.time`` is int64 nanoseconds, above 2**53), ``hostname``,
``source``, ``tags`` and Falcosidekick's per-event ``uuid``. Falco fires once per syscall,
so the identity is the rule on its host and container (a burst of one rule is one alert),
not the per-event ``uuid``.
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, Severity
from orchestrator.intake.sources import SourceContext, new_event, require_object

__all__ = ["PRIORITIES", "parse"]

PRIORITIES: Final[dict[str, Severity]] = {
    "emergency": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "notice": Severity.LOW,
    "informational": Severity.INFO,
    "info": Severity.INFO,
    "debug": Severity.INFO,
}
_IP_FIELDS: Final = ("fd.cip", "fd.sip", "fd.rip", "fd.lip")
_USER_FIELDS: Final = ("user.name", "user.loginname", "ka.user.name")
_LABEL_FIELDS: Final = (
    "container.id",
    "container.name",
    "container.image.repository",
    "k8s.ns.name",
    "k8s.pod.name",
    "proc.name",
)


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event per Falco event."""
    event = require_object(body, "body")
    rule = normalise.as_text(event.get("rule"), field="rule")
    if not rule:
        raise ValidationFailed("rule is required", field="rule")
    fields = event.get("output_fields")
    fields = fields if isinstance(fields, dict) else {}
    hostname = normalise.as_text(event.get("hostname"), field="hostname", limit=200)
    labels: dict[str, str] = {}
    for key in _LABEL_FIELDS:
        value = fields.get(key)
        if isinstance(value, str | int) and (text := normalise.as_text(value, field=key)):
            labels[key] = text
    source = normalise.as_text(event.get("source"), field="source")
    if source:
        labels["source"] = source
    tags = normalise.text_list(event.get("tags"), field="tags")
    if tags:
        labels["tags"] = ",".join(tags)
    observed = normalise.parse_time(event.get("time"), field="time")
    if observed is None:
        observed = normalise.parse_time(fields.get("evt.time"), field="output_fields.evt.time")
    where = labels.get("container.id") or labels.get("k8s.pod.name") or ""
    return [
        new_event(
            ctx,
            title=rule,
            severity=normalise.map_severity(event.get("priority"), PRIORITIES, ctx.default_severity),
            observed_at=observed,
            dedup_key=normalise.identity_key(ctx.source, rule, hostname or "", where),
            entities={
                "hosts": [hostname] if hostname else [],
                "ips": _scalars(fields, _IP_FIELDS),
                "users": _scalars(fields, _USER_FIELDS),
            },
            labels=labels,
            raw=event,
        )
    ]


def _scalars(fields: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    values = []
    for key in keys:
        value = fields.get(key)
        if isinstance(value, str) and value and value not in ("<NA>", "NA"):
            text = normalise.clean_text(value, limit=200)
            if text:
                values.append(text)
    return values
