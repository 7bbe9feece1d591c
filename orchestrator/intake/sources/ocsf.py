"""OCSF Detection Finding (class 2004) bodies: one finding, or a list of findings.

Identity is ``finding_info.uid``; severity is ``severity_id`` through ``SEVERITY_IDS``
(0 Unknown and 99 Other fall back to the ``severity`` caption, then the default); times are
epoch milliseconds; a finding is resolved when ``activity_id`` is 3 (Close) or ``status_id``
is 4 (Resolved) or 5 (Archived).
"""

from __future__ import annotations

from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, EventStatus, Severity
from orchestrator.intake.sources import SourceContext, capped, new_event, require_object

__all__ = ["CLASS_UID", "SEVERITY_IDS", "parse"]

CLASS_UID: Final = 2004
SEVERITY_IDS: Final[dict[str, Severity]] = {
    "1": Severity.INFO,
    "2": Severity.LOW,
    "3": Severity.MEDIUM,
    "4": Severity.HIGH,
    "5": Severity.CRITICAL,
    "6": Severity.CRITICAL,  # Fatal
}
_CAPTIONS: Final[dict[str, Severity]] = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
}
_ENDPOINTS: Final = ("device", "src_endpoint", "dst_endpoint")


def parse(body: Any, ctx: SourceContext) -> list[CompromiseEvent]:
    """One event per finding."""
    if isinstance(body, list):
        return [
            _finding(require_object(item, f"[{i}]"), ctx, f"[{i}].")
            for i, item in enumerate(capped(body, ctx, "findings"))
        ]
    return [_finding(require_object(body, "body"), ctx, "")]


def _finding(finding: dict[str, Any], ctx: SourceContext, where: str) -> CompromiseEvent:
    class_uid = normalise.as_text(finding.get("class_uid"), field=f"{where}class_uid")
    if class_uid != str(CLASS_UID):
        raise ValidationFailed(
            f"{where}class_uid must be {CLASS_UID} (Detection Finding), got {class_uid!r}",
            field=f"{where}class_uid",
        )
    info = require_object(finding.get("finding_info"), f"{where}finding_info")
    uid = normalise.as_text(info.get("uid"), field=f"{where}finding_info.uid")
    if not uid:
        raise ValidationFailed(f"{where}finding_info.uid is required", field=f"{where}finding_info.uid")
    severity_id = finding.get("severity_id")
    if isinstance(severity_id, int | str) and str(severity_id).strip() in SEVERITY_IDS:
        severity = SEVERITY_IDS[str(severity_id).strip()]
    else:
        severity = normalise.map_severity(finding.get("severity"), _CAPTIONS, ctx.default_severity)
    activity = normalise.as_text(finding.get("activity_id"), field=f"{where}activity_id")
    state = normalise.as_text(finding.get("status_id"), field=f"{where}status_id")
    status: EventStatus = "resolved" if activity == "3" or state in ("4", "5") else "firing"
    observed = normalise.parse_time(finding.get("time"), field=f"{where}time")
    if observed is None:
        observed = normalise.parse_time(
            info.get("last_seen_time"), field=f"{where}finding_info.last_seen_time"
        )
    product = _dig(finding, "metadata", "product")
    labels = {
        "product": _dig(product, "name"),
        "vendor": _dig(product, "vendor_name"),
        "ocsf_version": _dig(finding, "metadata", "version"),
        "analytic": _dig(info, "analytic", "name"),
        "types": ",".join(t for t in info.get("types") or [] if isinstance(t, str))
        if isinstance(info.get("types"), list)
        else None,
    }
    return new_event(
        ctx,
        title=normalise.as_text(info.get("title"), field=f"{where}finding_info.title")
        or normalise.as_text(finding.get("message"), field=f"{where}message"),
        severity=severity,
        status=status,
        observed_at=observed,
        dedup_key=normalise.identity_key(ctx.source, uid),
        entities=_entities(finding),
        labels={
            key: text
            for key, value in labels.items()
            if isinstance(value, str | int) and (text := normalise.as_text(value, field=key))
        },
        source_ref=normalise.as_text(info.get("src_url"), field=f"{where}finding_info.src_url", limit=2048)
        if isinstance(info.get("src_url"), str)
        else None,
        raw=finding,
    )


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _entities(finding: dict[str, Any]) -> dict[str, list[str]]:
    """Hosts and IPs of the device and endpoints, and actor user names, also from evidences."""
    places = [finding]
    evidences = finding.get("evidences")
    if isinstance(evidences, list):
        places.extend(e for e in evidences[:50] if isinstance(e, dict))
    hosts: list[Any] = []
    ips: list[Any] = []
    users: list[Any] = [_dig(finding, "user", "name")]
    for place in places:
        for endpoint in _ENDPOINTS:
            hosts.append(_dig(place, endpoint, "hostname"))
            ips.append(_dig(place, endpoint, "ip"))
        users.append(_dig(place, "actor", "user", "name"))
    found = {"hosts": hosts, "ips": ips, "users": users}
    return {
        name: list(
            dict.fromkeys(
                text
                for value in values
                if isinstance(value, str) and (text := normalise.clean_text(value, limit=200))
            )
        )
        for name, values in found.items()
    }
