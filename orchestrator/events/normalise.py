"""Small plain functions every source's normalisation is built from, each tested alone.

``parse_time`` reads the loose times tools send (RFC 3339, epoch seconds, milliseconds,
microseconds or nanoseconds, as numbers or strings); ``clean_text`` makes a string safe to
show and store; ``bound_raw`` keeps a bounded, redacted copy of a body; ``map_severity``
maps a tool's severity through a table; ``stable_key`` and ``identity_key`` build dedup keys
that are the same on every delivery of one alert. Each raises ``ValidationFailed`` naming
the field when a value cannot be read, and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from orchestrator.errors import ValidationFailed
from orchestrator.events.schemas import Severity
from orchestrator.redaction import redact, redact_text

__all__ = [
    "KEY_LIMIT",
    "MISSING",
    "RAW_LIMIT_BYTES",
    "TITLE_LIMIT",
    "TRUNCATED",
    "as_text",
    "bound_raw",
    "clean_text",
    "get_path",
    "identity_key",
    "map_severity",
    "parse_time",
    "stable_key",
    "text_list",
]

TITLE_LIMIT: Final = 300
RAW_LIMIT_BYTES: Final = 64 * 1024
TRUNCATED: Final = "…[truncated]"
KEY_LIMIT: Final = 200


class _Missing:
    """The marker ``get_path`` returns when a path is absent (``None`` is a real JSON value)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

# C0/C1 controls (tab/newline become spaces first), bidi embeddings/overrides/isolates,
# zero-width characters, BOM, line/paragraph separators, and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)
_SPACES = re.compile(r"[\t\n\r ]+")
_STRIP_RAW = re.compile("[\x00\ud800-\udfff]")

# Epoch magnitudes: below 1e11 is seconds (until year 5138), then ms, µs, ns.
_EPOCH_DIVISORS: Final = ((10**11, 1), (10**14, 10**3), (10**17, 10**6), (10**20, 10**9))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")


def clean_text(value: str, *, limit: int = TITLE_LIMIT) -> str:
    """Return ``value`` with control, bidi and zero-width characters removed, whitespace
    collapsed to single spaces, and at most ``limit`` characters (ending in an ellipsis)."""
    text = _SPACES.sub(" ", value.replace("\x00", ""))
    text = _UNSAFE.sub("", text)
    text = _SPACES.sub(" ", redact_text(text)).strip()  # a token pasted into a title stays out
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    return text


def as_text(value: Any, *, field: str, limit: int = TITLE_LIMIT) -> str | None:
    """Read a loose scalar as cleaned text: strings, numbers and booleans; ``None`` or absent
    gives ``None``; an object or list raises ``ValidationFailed`` naming ``field``."""
    if value is None or value is MISSING:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return clean_text(value, limit=limit)
    if isinstance(value, int | float):
        return clean_text(_number_text(value), limit=limit)
    raise ValidationFailed(f"{field} must be a string, got {_json_type(value)}", field=field)


def text_list(value: Any, *, field: str, limit: int = 200, max_items: int = 100) -> list[str]:
    """Read a loose list of strings (a single string counts as a list of one), dropping
    empties and duplicates; raises ``ValidationFailed`` naming ``field`` for objects."""
    if value is None or value is MISSING:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for index, item in enumerate(items[:max_items]):
        text = as_text(item, field=f"{field}[{index}]", limit=limit)
        if text and text not in out:
            out.append(text)
    return out


def parse_time(value: Any, *, field: str) -> datetime | None:
    """Read a time as aware UTC: RFC 3339 (any fraction length, ``Z`` or offset, naive read
    as UTC) or an epoch number in seconds, ms, µs or ns (magnitude decides; strings of digits
    too, precise above 2**53). ``None``, empty or absent gives ``None``."""
    if value is None or value is MISSING or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError("a boolean is not a time")
        if isinstance(value, int | float):
            return _from_epoch(Decimal(value) if isinstance(value, int) else Decimal(repr(value)))
        if isinstance(value, str):
            text = value.strip()
            if _NUMBER.match(text):
                return _from_epoch(Decimal(text))
            return _from_iso(text)
    except (ValueError, OverflowError, InvalidOperation, ArithmeticError):
        pass
    shown = value[:60] if isinstance(value, str) else _json_type(value)
    raise ValidationFailed(
        f"{field} is not a time (RFC 3339 or epoch seconds/milliseconds): {shown!r}", field=field
    )


def _from_epoch(number: Decimal) -> datetime:
    if not number.is_finite():
        raise ValueError("not finite")
    magnitude = abs(number)
    for bound, divisor in _EPOCH_DIVISORS:
        if magnitude < bound:
            micros = int((number * 1_000_000 / divisor).to_integral_value())
            return _EPOCH + timedelta(microseconds=micros)
    raise ValueError("epoch out of range")


def _from_iso(text: str) -> datetime:
    if not 8 <= len(text) <= 64:
        raise ValueError("not an RFC 3339 time")
    text = _ISO_FRACTION.sub(r"\1", text.replace("z", "Z"))
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def map_severity(value: Any, table: Mapping[str, Severity], default: Severity) -> Severity:
    """Map a tool's severity through ``table`` (keys lower-case; values compared trimmed and
    case-insensitively, numbers by their text); missing or unknown values give ``default``."""
    if isinstance(value, bool) or value is None or value is MISSING:
        return default
    if isinstance(value, int | float):
        key = _number_text(value)
    elif isinstance(value, str):
        key = value.strip().lower()
    else:
        return default
    return table.get(key, default)


def stable_key(*parts: Any) -> str:
    """A SHA-256 hex digest of ``parts`` as canonical JSON: equal inputs, equal keys, across
    processes and restarts (never random, never ordered by a set)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def identity_key(source: str, *identity: Any) -> str:
    """The dedup key ``"<source>:<identity>"`` for an alert's identity at its source; long or
    composite identities are hashed so the key stays short and printable."""
    texts = [clean_text(str(part), limit=10_000) for part in identity]
    if len(texts) == 1 and 0 < len(texts[0]) <= KEY_LIMIT and " " not in texts[0]:
        return f"{source}:{texts[0]}"
    return f"{source}:{stable_key(*texts)}"


def get_path(obj: Any, path: str) -> Any:
    """Follow a dotted ``path`` through nested objects and lists, matching keys that
    themselves contain dots (ECS ``"kibana.alert.uuid"``) as well as nested ones; numeric parts
    index lists. Returns ``MISSING`` when nothing is there."""
    if not path:
        return MISSING
    return _walk(obj, path.split("."), 0)


def _walk(obj: Any, parts: list[str], depth: int) -> Any:
    if not parts:
        return obj
    if depth > 16:
        return MISSING
    if isinstance(obj, dict):
        for cut in range(len(parts), 0, -1):
            key = ".".join(parts[:cut])
            if key in obj:
                found = _walk(obj[key], parts[cut:], depth + 1)
                if found is not MISSING:
                    return found
        return MISSING
    if isinstance(obj, list) and parts[0].isdigit() and len(parts[0]) < 7:
        index = int(parts[0])
        return _walk(obj[index], parts[1:], depth + 1) if index < len(obj) else MISSING
    return MISSING


def bound_raw(
    body: Any, *, limit: int = RAW_LIMIT_BYTES, string_limit: int = 4096, list_limit: int = 100
) -> dict[str, Any] | list[Any] | None:
    """A redacted copy of ``body`` whose JSON fits in ``limit`` bytes: long strings, lists and
    objects are cut with a ``TRUNCATED`` marker once a size budget is spent, NUL and lone
    surrogates removed (PostgreSQL rejects them), deep nesting replaced by the marker.
    Non-containers are wrapped as ``{"value": ...}``. The work is bounded by ``limit``, not by
    the size of ``body``; redaction runs on a wider cut than the final one, so a secret
    straddling a cut is still masked."""
    wrapped = body if isinstance(body, dict | list) else {"value": body}
    first = _Cut(limit * 2, string_limit * 2, list_limit)
    redacted = redact(first.walk(wrapped, 0))
    if not first.truncated:
        size = len(json.dumps(redacted, ensure_ascii=False, default=str).encode("utf-8"))
        if size <= limit and isinstance(redacted, dict | list):
            return redacted
    budget = limit
    while True:
        copy = _Cut(budget, string_limit, list_limit).walk(redacted, 0)
        size = len(json.dumps(copy, ensure_ascii=False, default=str).encode("utf-8"))
        if size <= limit or budget <= 256:
            break
        budget //= 2
        string_limit = max(string_limit // 2, 64)
    if size > limit or not isinstance(copy, dict | list):
        return {"truncated": TRUNCATED, "bytes": size}
    return copy


class _Cut:
    """One bounded walk: every string, key and scalar spends from ``budget``; once it is spent
    the rest of each container is replaced by one marker."""

    def __init__(self, budget: int, string_limit: int, list_limit: int) -> None:
        self.budget = budget
        self.string_limit = string_limit
        self.list_limit = list_limit
        self.truncated = False

    def walk(self, value: Any, depth: int) -> Any:
        if depth > 20:
            self.truncated = True
            return TRUNCATED
        if isinstance(value, str):
            text = _STRIP_RAW.sub("", value[: self.string_limit + 1])
            cut = text[: max(min(self.string_limit, self.budget), 0)]
            self.budget -= len(cut) + 4
            if len(cut) < len(text):
                self.truncated = True
                return cut + TRUNCATED
            return cut
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for index, (key, item) in enumerate(value.items()):
                if index >= self.list_limit or self.budget <= 0:
                    self.truncated = True
                    out[TRUNCATED] = f"{len(value) - index} more keys"
                    break
                name = _STRIP_RAW.sub("", str(key))[:200]
                self.budget -= len(name) + 4
                out[name] = self.walk(item, depth + 1)
            return out
        if isinstance(value, list | tuple):
            items: list[Any] = []
            for index, item in enumerate(value):
                if index >= self.list_limit or self.budget <= 0:
                    self.truncated = True
                    items.append(f"{TRUNCATED} {len(value) - index} more items")
                    break
                items.append(self.walk(item, depth + 1))
            return items
        self.budget -= 8
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            return str(value)
        return value


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return str(value)


def _json_type(value: Any) -> str:
    names: Iterable[tuple[type, str]] = ((dict, "an object"), (list, "a list"), (bool, "a boolean"))
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__
