"""AWS GuardDuty findings as EventBridge delivers them (``detail-type: GuardDuty Finding``).

The finding is ``detail``; its ``id`` is the identity (GuardDuty updates one finding, raising
``service.count``, while the activity repeats). Severity is the float ``detail.severity``
through GuardDuty's documented bands (``severity_of``); an archived finding is resolved.
A bare finding without the EventBridge envelope is accepted too.
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import SourceContext, new_event, require_object

__all__ = ["DETAIL_TYPE", "parse", "severity_of"]

DETAIL_TYPE: Final = "GuardDuty Finding"
# GuardDuty's bands: 1.0-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical.
_BANDS: Final = ((9.0, Severity.CRITICAL), (7.0, Severity.HIGH), (4.0, Severity.MEDIUM),
                 (1.0, Severity.LOW), (0.0, Severity.INFO))  # fmt: skip
_WORDS: Final = {s.value: s for s in Severity}


def severity_of(value: Any, default: Severity) -> Severity:
    """GuardDuty's numeric severity (a float, or its text) or a word such as ``HIGH``."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _WORDS:
            return _WORDS[word]
        try:
            value = float(word)
        except ValueError:
            return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if not 0.0 <= value <= 10.0:
        return default
    return next(level for floor, level in _BANDS if value >= floor)


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event for the finding."""
    envelope = require_object(body, "body")
    if "detail" in envelope:
        detail_type = normalise.as_text(envelope.get("detail-type"), field="detail-type")
        if detail_type and detail_type != DETAIL_TYPE:
            raise ValidationFailed(
                f"detail-type must be {DETAIL_TYPE!r}, got {detail_type[:60]!r}",
                field="detail-type",
            )
        finding = require_object(envelope["detail"], "detail")
        prefix = "detail."
    else:
        finding, prefix = envelope, ""
    finding_id = normalise.as_text(finding.get("id"), field=f"{prefix}id")
    if not finding_id:
        raise ValidationFailed(f"{prefix}id (the finding id) is required", field=f"{prefix}id")
    service = finding.get("service")
    service = service if isinstance(service, dict) else {}
    status: EventStatus = "resolved" if service.get("archived") in (True, "true") else "firing"
    observed = None
    for source, key in ((service, "eventLastSeen"), (finding, "updatedAt"), (envelope, "time")):
        observed = normalise.parse_time(source.get(key), field=f"{prefix}{key}")
        if observed:
            break
    region = normalise.as_text(finding.get("region") or envelope.get("region"), field="region")
    labels = {
        "finding_type": finding.get("type"),
        "account": finding.get("accountId") or envelope.get("account"),
        "region": region,
        "resource_type": _dig(finding, "resource", "resourceType"),
        "count": service.get("count"),
    }
    return [
        new_event(
            ctx,
            title=normalise.as_text(finding.get("title"), field=f"{prefix}title")
            or normalise.as_text(finding.get("type"), field=f"{prefix}type"),
            severity=severity_of(finding.get("severity"), ctx.default_severity),
            status=status,
            observed_at=observed,
            dedup_key=normalise.identity_key(ctx.source, finding_id),
            entities=_entities(finding),
            labels={
                key: text
                for key, value in labels.items()
                if isinstance(value, str | int) and (text := normalise.as_text(value, field=key))
            },
            source_ref=(
                f"https://console.aws.amazon.com/guardduty/home?region={region}#/findings?fId={finding_id}"
                if region
                else None
            ),
            raw=body,
        )
    ]


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _entities(finding: dict[str, Any]) -> dict[str, list[str]]:
    """Instance ids and DNS names, private/public/remote IPs and IAM user names."""
    hosts: list[Any] = [_dig(finding, "resource", "instanceDetails", "instanceId")]
    ips: list[Any] = []
    interfaces = _dig(finding, "resource", "instanceDetails", "networkInterfaces")
    for interface in interfaces if isinstance(interfaces, list) else []:
        if isinstance(interface, dict):
            hosts.append(interface.get("privateDnsName"))
            ips.extend([interface.get("privateIpAddress"), interface.get("publicIp")])
    action = _dig(finding, "service", "action")
    for detail in action.values() if isinstance(action, dict) else []:
        ips.append(_dig(detail, "remoteIpDetails", "ipAddressV4"))
        probes = _dig(detail, "portProbeDetails")
        for probe in probes if isinstance(probes, list) else []:
            ips.append(_dig(probe, "remoteIpDetails", "ipAddressV4"))
    users = [_dig(finding, "resource", "accessKeyDetails", "userName")]
    return {
        "hosts": _strings(hosts),
        "ips": _strings(ips),
        "users": _strings(users),
    }


def _strings(values: list[Any]) -> list[str]:
    return [
        text
        for value in values[:200]
        if isinstance(value, str) and (text := normalise.clean_text(value, limit=200))
    ]
