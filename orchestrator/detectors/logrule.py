"""Log rules: follow JSON-lines files (``tail -F``, rotation included) and emit on YAML rules.

Each line is one JSON object; a rule matches when every condition in its ``when`` holds, and
then emits one generic-schema event. Conditions name a dotted field path and either a value
(equality) or one operator: ``equals``, ``in``, ``not_in``, ``prefix``, ``matches`` (regex),
``exists`` (true/false), ``in_cidrs``, ``not_in_cidrs``. See docs/detectors.md for the format.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import yaml

from orchestrator.errors import ConfigError
from orchestrator.events import normalise

__all__ = ["FileFollower", "LogRule", "LogRuleDetector", "load_rules"]

_OPERATORS: Final = ("equals", "in", "not_in", "prefix", "matches", "exists", "in_cidrs", "not_in_cidrs")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")
_SEVERITIES: Final = ("info", "low", "medium", "high", "critical")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class _Condition:
    path: str
    operator: str
    value: Any

    def holds(self, record: Any) -> bool:
        found = normalise.get_path(record, self.path)
        present = found is not normalise.MISSING and found is not None
        if self.operator == "exists":
            return present is bool(self.value)
        if not present or isinstance(found, dict | list):
            return False
        text = str(found).lower() if isinstance(found, bool) else str(found)
        if self.operator == "equals":
            return bool(text == self.value)
        if self.operator == "in":
            return text in self.value
        if self.operator == "not_in":
            return text not in self.value
        if self.operator == "prefix":
            return text.startswith(self.value)
        if self.operator == "matches":
            return bool(self.value.search(text))
        inside = _in_networks(text, self.value)
        if inside is None:  # not an address: an allow-list cannot vouch for it
            return self.operator == "not_in_cidrs"
        return inside if self.operator == "in_cidrs" else not inside


def _in_networks(text: str, networks: tuple[_Network, ...]) -> bool | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    return any(address.version == net.version and address in net for net in networks)


@dataclass(frozen=True)
class LogRule:
    """One rule: conditions, and the event it emits (templates use ``{field.path}``)."""

    name: str
    conditions: tuple[_Condition, ...]
    kind: str
    severity: str
    title: str
    dedup_by: tuple[str, ...] = ()
    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def event(self, record: Any, *, where: str) -> dict[str, Any] | None:
        """The event this record triggers, or None."""
        if not all(c.holds(record) for c in self.conditions):
            return None
        identity = [_scalar(record, p) for p in self.dedup_by]
        suffix = f":{normalise.stable_key(*identity)[:32]}" if identity else ""
        return {
            "title": _render(self.title, record),
            "kind": self.kind,
            "severity": self.severity,
            "dedup_key": f"logrule:{self.name}{suffix}",
            "entities": {
                name: [v for v in (_scalar(record, p) for p in paths) if v]
                for name, paths in self.entities.items()
            },
            "labels": {"rule": self.name, "log": where[:500]},
            "record": record,
        }


def _scalar(record: Any, path: str) -> str:
    value = normalise.get_path(record, path)
    return "" if value is normalise.MISSING or value is None or isinstance(value, dict | list) else str(value)


def _render(template: str, record: Any) -> str:
    return _PLACEHOLDER.sub(lambda m: _scalar(record, m.group(1)), template)


def _condition(path: str, spec: Any, where: str) -> _Condition:
    if not isinstance(spec, dict):
        return _Condition(path, "equals", str(spec).lower() if isinstance(spec, bool) else str(spec))
    if len(spec) != 1 or next(iter(spec)) not in _OPERATORS:
        raise ConfigError(f"{where}.{path}: one operator of {', '.join(_OPERATORS)}")
    operator, value = next(iter(spec.items()))
    try:
        if operator in ("in", "not_in"):
            return _Condition(path, operator, frozenset(str(v) for v in value))
        if operator in ("in_cidrs", "not_in_cidrs"):
            nets = tuple(ipaddress.ip_network(str(v), strict=False) for v in value)
            return _Condition(path, operator, nets)
        if operator == "matches":
            return _Condition(path, operator, re.compile(str(value)))
        if operator == "exists":
            return _Condition(path, operator, bool(value))
        return _Condition(path, operator, str(value))
    except (TypeError, ValueError, re.error) as exc:
        raise ConfigError(f"{where}.{path}.{operator}: {exc}") from None


def _rule(item: Any, where: str) -> LogRule:
    if not isinstance(item, dict) or set(item) - {"name", "when", "emit"} or "name" not in item:
        raise ConfigError(f"{where}: expected keys name, when and emit")
    when, emit = item.get("when") or {}, item.get("emit") or {}
    if not isinstance(when, dict) or not when:
        raise ConfigError(f"{where}.when: a mapping of field paths to conditions is required")
    known = {"kind", "severity", "title", "dedup_by", "entities"}
    if not isinstance(emit, dict) or set(emit) - known:
        raise ConfigError(f"{where}.emit: keys are {', '.join(sorted(known))}")
    severity = str(emit.get("severity", "high")).lower()
    if severity not in _SEVERITIES:
        raise ConfigError(f"{where}.emit.severity: one of {', '.join(_SEVERITIES)}")
    entities = emit.get("entities") or {}
    if not isinstance(entities, dict):
        raise ConfigError(f"{where}.emit.entities: a mapping of entity lists to field paths")
    name = str(item["name"])
    return LogRule(
        name=name,
        conditions=tuple(_condition(str(p), s, f"{where}.when") for p, s in when.items()),
        kind=str(emit.get("kind", "log.rule")),
        severity=severity,
        title=str(emit.get("title", f"Log rule {name} matched")),
        dedup_by=tuple(str(p) for p in _as_list(emit.get("dedup_by"))),
        entities={str(k): tuple(str(p) for p in _as_list(v)) for k, v in entities.items()},
    )


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def load_rules(path: Path) -> list[LogRule]:
    """Read a rules file; ``ConfigError`` names the file, the rule and the key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the rules file: {exc}") from None
    items = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a 'rules' list")
    return [_rule(item, f"{path}: rules[{i}]") for i, item in enumerate(items)]


class LogRuleDetector:
    """Applies rules to JSON lines; lines that are not JSON objects are skipped."""

    def __init__(self, rules: Iterable[LogRule]) -> None:
        self.rules = list(rules)

    def check_line(self, line: str, *, where: str) -> list[dict[str, Any]]:
        try:
            record = json.loads(line)
        except ValueError:
            return []
        if not isinstance(record, dict):
            return []
        events = (rule.event(record, where=where) for rule in self.rules)
        return [e for e in events if e is not None]


class FileFollower:
    """``tail -F`` for one path: waits for it to exist, follows appends, reopens it when it
    is rotated (a new inode) after draining the old file, and restarts on truncation."""

    def __init__(self, path: Path, *, from_start: bool = False, max_line: int = 1_000_000) -> None:
        self.path = path
        self._from_start = from_start
        self._max_line = max_line
        self._handle: IO[bytes] | None = None
        self._inode: tuple[int, int] | None = None
        self._partial = b""

    def read_lines(self) -> list[str]:
        """Every complete line appended since the last call."""
        lines: list[str] = []
        if self._handle is None and not self._open(at_end=not self._from_start):
            return lines
        assert self._handle is not None
        lines += self._drain()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return lines  # rotated away, new file not there yet: keep the old handle
        if (stat.st_dev, stat.st_ino) != self._inode:
            self._handle.close()
            self._handle, self._partial = None, b""
            if self._open(at_end=False):
                lines += self._drain()
        elif stat.st_size < self._handle.tell():  # truncated in place
            self._handle.seek(0)
            self._partial = b""
            lines += self._drain()
        return lines

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _open(self, *, at_end: bool) -> bool:
        try:
            handle = self.path.open("rb")
        except (FileNotFoundError, PermissionError):
            self._from_start = True  # whatever appears later is new: read it all
            return False
        stat = os.fstat(handle.fileno())
        self._inode = (stat.st_dev, stat.st_ino)
        if at_end:
            handle.seek(0, os.SEEK_END)
        self._handle = handle
        self._from_start = True  # a file that appears later is read from its start
        return True

    def _drain(self) -> list[str]:
        assert self._handle is not None
        data = self._partial + self._handle.read()
        *complete, self._partial = data.split(b"\n")
        if len(self._partial) > self._max_line:
            self._partial = b""
        return [line.decode("utf-8", "replace") for line in complete if line.strip()]
