"""The source contract and registry: raw webhook bytes from a named tool -> compromise events.

Each module in this package reads one tool's native webhook body and exposes
``parse(body, ctx) -> list[CompromiseEvent]``; ``parse_body`` decodes the bytes once, looks the
source up and calls it. Errors: ``NotFound`` for an unknown source, ``MalformedInput`` for
bytes that are not UTF-8 JSON, ``ValidationFailed`` (naming the field) for JSON that does not
fit the source's format. Nothing else escapes, whatever the body.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, cast

from orchestrator.errors import ConfigError, MalformedInput, NotFound, TooLarge, ValidationFailed
from orchestrator.events import normalise
from orchestrator.events.schemas import CompromiseEvent, Entities, EventStatus, Severity
from orchestrator.redaction import redact_text

__all__ = [
    "ENTITY_FIELDS",
    "FieldMapping",
    "SourceContext",
    "SourceParser",
    "capped",
    "decode_json",
    "entities_from_labels",
    "import_parsers",
    "new_event",
    "parse_body",
    "require_object",
    "source_names",
    "string_map",
]

ENTITY_FIELDS: Final = ("hosts", "ips", "users", "open_ids", "client_keys")

# Source name -> module in this package; imported by name (at start-up, ``import_parsers``) so one
# broken module never blocks the others, and the list is the one place a source is registered.
_MODULES: Final[Mapping[str, str]] = {
    name: f"{__name__}.{name}"
    for name in (
        "alertmanager",
        "datadog",
        "elastic",
        "falco",
        "generic",
        "grafana",
        "guardduty",
        "ocsf",
        "pagerduty",
        "sentinel",
        "splunk",
    )
}

_DEFAULT_RESOLVED: Final = ("resolved", "closed", "ok", "recovered", "inactive")


@dataclass(frozen=True)
class FieldMapping:
    """A team's own field names (dotted paths) and severity words, for ``generic`` and
    ``elastic``, so they can send their shape without code.

    Each path overrides where the source looks for that field; ``dedup_key`` paths together
    make the alert's identity; ``severity_map`` keys are compared lower-case; a ``status``
    value in ``resolved_values`` means resolved.
    """

    title: str | None = None
    kind: str | None = None
    severity: str | None = None
    dedup_key: tuple[str, ...] = ()
    observed_at: str | None = None
    status: str | None = None
    source_ref: str | None = None
    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    severity_map: Mapping[str, Severity] = field(default_factory=dict, hash=False)
    resolved_values: tuple[str, ...] = _DEFAULT_RESOLVED

    @classmethod
    def from_config(cls, data: Mapping[str, Any], *, where: str = "mapping") -> FieldMapping:
        """Build a mapping from a config section; ``ConfigError`` names the bad key."""
        known = {
            "title", "kind", "severity", "dedup_key", "observed_at", "status", "source_ref",
            "entities", "labels", "severity_map", "resolved_values",
        }  # fmt: skip
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")

        def path(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}.{key}: must be a dotted path string")
            return value

        def paths(key: str, value: Any) -> tuple[str, ...]:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
                raise ConfigError(f"{where}.{key}: must be a path or a list of paths")
            return tuple(items)

        entities = _section(data, "entities", where)
        labels = _section(data, "labels", where)
        severities = _section(data, "severity_map", where)
        for name in entities:
            if name not in ENTITY_FIELDS:
                raise ConfigError(f"{where}.entities.{name}: not one of {', '.join(ENTITY_FIELDS)}")
        severity_map: dict[str, Severity] = {}
        for word, level in severities.items():
            try:
                severity_map[str(word).strip().lower()] = Severity(str(level).lower())
            except ValueError:
                allowed = ", ".join(s.value for s in Severity)
                raise ConfigError(f"{where}.severity_map.{word}: not one of {allowed}") from None
        resolved = data.get("resolved_values")
        return cls(
            title=path("title"),
            kind=path("kind"),
            severity=path("severity"),
            dedup_key=paths("dedup_key", data["dedup_key"]) if data.get("dedup_key") else (),
            observed_at=path("observed_at"),
            status=path("status"),
            source_ref=path("source_ref"),
            entities={k: paths(f"entities.{k}", v) for k, v in entities.items()},
            labels={str(k): paths(f"labels.{k}", v)[0] for k, v in labels.items()},
            severity_map=severity_map,
            resolved_values=(
                tuple(s.lower() for s in paths("resolved_values", resolved))
                if resolved is not None
                else _DEFAULT_RESOLVED
            ),
        )


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key}: must be a mapping")
    return value


@dataclass(frozen=True)
class SourceContext:
    """What a parser knows besides the body: who sent it, when, and the configured defaults."""

    source: str
    received_at: datetime  # aware UTC
    default_severity: Severity  # when the tool sends no severity, or one the table lacks
    default_kind: str = "security.alert"
    mapping: FieldMapping | None = None  # generic and elastic only
    max_events: int = 2000  # alerts or findings in one delivery (``sources.<name>.max_events``)


def capped(items: list[Any], ctx: SourceContext, what: str) -> list[Any]:
    """``items`` when there are at most ``ctx.max_events``; else ``TooLarge`` (413) naming the
    cap. Checked before any event is built: each costs memory until the delivery is durable,
    and 100,000 alerts in one 10 MB body once took the API from 135 to 717 MiB."""
    if len(items) > ctx.max_events:
        raise TooLarge(
            f"{len(items)} {what} in one delivery; {ctx.source} takes at most {ctx.max_events} "
            f"(sources.{ctx.source}.max_events): have the tool send fewer per delivery"
        )
    return items


class SourceParser(Protocol):
    """The one function each source module exposes as ``parse``."""

    def __call__(self, body: Any, ctx: SourceContext) -> list[CompromiseEvent]: ...


def source_names() -> list[str]:
    """Every source name ``parse_body`` accepts, sorted."""
    return sorted(_MODULES)


def import_parsers() -> list[str]:
    """Import every source's module now, at start-up, rather than on its first delivery (the
    first event of each source would wait for it); return the sources whose module failed to
    import: their deliveries fail as they would have, the others are unaffected."""
    failed = []
    for name, module_name in _MODULES.items():
        try:
            importlib.import_module(module_name)
        except Exception:
            failed.append(name)
    return failed


def parse_body(source: str, raw: bytes, ctx: SourceContext) -> list[CompromiseEvent]:
    """Decode ``raw`` as the named source's webhook body and normalise it to events."""
    module_name = _MODULES.get(source)
    if module_name is None:
        raise NotFound(f"unknown event source {source[:40]!r}; known: {', '.join(_MODULES)}")
    parser = cast(SourceParser, importlib.import_module(module_name).parse)
    body = decode_json(raw)
    try:
        return parser(body, ctx)
    except (RecursionError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        # A parser bug must not turn a hostile body into a 5xx; the body is still refused.
        raise ValidationFailed(f"body does not fit the {source} format") from exc


def decode_json(raw: bytes) -> Any:
    """Parse bytes as strict UTF-8 JSON (a BOM is allowed; NaN and Infinity are not)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise MalformedInput("body is empty; expected JSON")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedInput(f"body is not JSON: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedInput(f"body is not JSON: {str(exc)[:80]}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def new_event(
    ctx: SourceContext,
    *,
    title: str | None,
    dedup_key: str,
    severity: Severity,
    raw: Any,
    kind: str | None = None,
    observed_at: datetime | None = None,
    status: EventStatus = "firing",
    entities: Mapping[str, list[str]] | None = None,
    labels: Mapping[str, str] | None = None,
    source_ref: str | None = None,
    raw_is_bounded: bool = False,
) -> CompromiseEvent:
    """Assemble one event with the rules every source shares: a clean non-empty title, the
    context's kind and receipt time as defaults, entities deduplicated, labels capped, the
    link back stripped of secrets, the raw body bounded and redacted (``raw_is_bounded`` when
    the caller already passed it through ``normalise.bound_raw``)."""
    clean_title = normalise.clean_text(title or "") or f"{ctx.source} alert"
    clean_kind = normalise.clean_text(kind or "", limit=100) or ctx.default_kind
    lists = {
        name: [v for v in dict.fromkeys(values) if v][:100]
        for name, values in (entities or {}).items()
        if name in ENTITY_FIELDS
    }
    clean_labels: dict[str, str] = {}
    for key, value in list((labels or {}).items())[:64]:
        name = normalise.clean_text(key, limit=100)
        if name:
            clean_labels[name] = normalise.clean_text(value, limit=1000)
    return CompromiseEvent(
        source=ctx.source,
        kind=clean_kind,
        severity=severity,
        title=clean_title,
        observed_at=observed_at or ctx.received_at,
        received_at=ctx.received_at,
        dedup_key=dedup_key,
        status=status,
        entities=Entities(**lists),
        labels=clean_labels,
        source_ref=_clean_ref(source_ref),
        raw=raw if raw_is_bounded else normalise.bound_raw(raw),
    )


def _clean_ref(ref: str | None) -> str | None:
    if not ref:
        return None
    cleaned = redact_text(normalise.clean_text(ref, limit=2048))
    return cleaned or None


def require_object(body: Any, field_name: str) -> dict[str, Any]:
    """``body`` itself when it is a JSON object, else ``ValidationFailed`` naming the field."""
    if not isinstance(body, dict):
        raise ValidationFailed(f"{field_name} must be a JSON object", field=field_name)
    return body


# Label or field names that name an entity, in the shapes tools commonly use.
_ENTITY_KEYS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("host", "hostname", "host_name", "host.name", "node", "instance"), "hosts"),
    **dict.fromkeys(("nodename", "computer", "dest_host", "src_host", "device"), "hosts"),
    **dict.fromkeys(("ip", "src_ip", "source_ip", "client_ip", "remote_ip", "src"), "ips"),
    **dict.fromkeys(("dest_ip", "dst_ip", "destination_ip", "ip_address", "host.ip"), "ips"),
    **dict.fromkeys(("source.ip", "destination.ip", "client.ip", "ipaddress"), "ips"),
    **dict.fromkeys(("user", "username", "user_name", "user.name", "account", "src_user"), "users"),
    **dict.fromkeys(("open_id", "openid", "tiktok_open_id", "tiktok.open_id"), "open_ids"),
    **dict.fromkeys(("client_key", "tiktok_client_key", "tiktok.client_key"), "client_keys"),
}
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9._-]+):\d{1,5}$")


def entities_from_labels(labels: Mapping[str, Any]) -> dict[str, list[str]]:
    """Entities named by well-known label or field names (``host``, ``instance``, ``src_ip``,
    ``user``, ``open_id``...); an ``instance`` of ``host:port`` counts as its host. Values may
    be strings or lists of strings; anything else is skipped."""
    found: dict[str, list[str]] = {}
    for key, value in labels.items():
        name = _ENTITY_KEYS.get(str(key).lower())
        if name is None:
            continue
        items = value if isinstance(value, list) else [value]
        scalars = [item for item in items if isinstance(item, str | int | float)]
        for text in normalise.text_list(scalars, field=str(key)[:60]):
            match = _HOST_PORT.match(text) if name == "hosts" else None
            item = match.group("host") if match else text
            if item not in found.setdefault(name, []):
                found[name].append(item)
    return found


def string_map(value: Any, *, field: str, limit: int = 64) -> dict[str, str]:
    """A loose ``{string: scalar}`` object as cleaned strings (nested values are skipped, so a
    newer tool version adding objects never breaks intake); ``ValidationFailed`` if not an
    object at all."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be an object", field=field)
    out: dict[str, str] = {}
    for key, item in list(value.items())[:limit]:
        if isinstance(item, dict | list):
            continue
        text = normalise.as_text(item, field=f"{field}.{str(key)[:60]}", limit=1000)
        if text is not None:
            out[str(key)] = text
    return out
