"""Canary tokens: decoy TikTok tokens planted where an attacker would look; any sighting is critical.

A canary is never used by the application, so seeing its value anywhere (a log line, a
request header, body or query) means someone read it where it was planted: a critical
``credential.leak`` whose dedup key is the canary's name, so every sighting of one canary
lands in one incident. The file format (YAML)::

    canaries:
      - name: backup-env            # unique; names the incident
        token: act.9f2c...           # the decoy exactly as planted (16+ characters)
        planted_in: /srv/app/.env.bak
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from orchestrator.errors import ConfigError
from orchestrator.events.normalise import stable_key
from orchestrator.redaction import register_secret

__all__ = ["Canary", "CanaryDetector", "load_canaries", "new_canary_token"]

KIND: Final = "credential.leak"
_MIN_TOKEN: Final = 16
_PREFIXES: Final = {"access": "act.", "refresh": "rft.", "client": "clt."}


@dataclass(frozen=True)
class Canary:
    """One planted decoy."""

    name: str
    token: str
    planted_in: str = ""


def new_canary_token(kind: Literal["access", "refresh", "client"] = "access") -> str:
    """A fresh decoy shaped like a TikTok token (``act.``/``rft.``/``clt.`` + 64 characters)."""
    return f"{_PREFIXES[kind]}{secrets.token_hex(32)}!{secrets.randbelow(9000) + 1000}.va"


def load_canaries(path: Path) -> list[Canary]:
    """Read a canary file; ``ConfigError`` names the file and the bad entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the canary file: {exc}") from None
    items = data.get("canaries") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a 'canaries' list")
    canaries: list[Canary] = []
    for index, item in enumerate(items):
        where = f"{path}: canaries[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "token", "planted_in"}:
            raise ConfigError(f"{where}: expected keys name, token and planted_in")
        name, token = item.get("name"), item.get("token")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.name: a non-empty string is required")
        if not isinstance(token, str) or len(token) < _MIN_TOKEN:
            raise ConfigError(f"{where}.token: at least {_MIN_TOKEN} characters, to avoid false alarms")
        canaries.append(Canary(name.strip(), token, str(item.get("planted_in") or "")))
    if len({c.name for c in canaries}) != len(canaries):
        raise ConfigError(f"{path}: canary names must be unique")
    return canaries


class CanaryDetector:
    """Finds planted decoys in text and requests; returns generic-schema event dicts."""

    def __init__(self, canaries: Iterable[Canary]) -> None:
        self._by_token = {c.token: c for c in canaries}
        for token in self._by_token:
            register_secret(token)  # a decoy seen in a log line is still never repeated there
        ordered = sorted(self._by_token, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(t) for t in ordered)) if ordered else None

    def scan(self, text: str, *, seen_in: str, ip: str | None = None) -> list[dict[str, Any]]:
        """One event per canary found in ``text`` (a log line, a request, a file)."""
        if self._pattern is None or not text:
            return []
        found = dict.fromkeys(m.group(0) for m in self._pattern.finditer(text))
        return [self._event(self._by_token[token], seen_in=seen_in, ip=ip, evidence=text) for token in found]

    def scan_request(
        self,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        query: str = "",
        body: bytes = b"",
        client_ip: str | None = None,
    ) -> list[dict[str, Any]]:
        """Sightings in an HTTP request the application received (headers, query, body)."""
        parts = [f"{k}: {v}" for k, v in headers.items()]
        text = "\n".join([query, *parts, body[:1_000_000].decode("utf-8", "replace")])
        return self.scan(text, seen_in=f"request {method} {path}", ip=client_ip)

    def _event(self, canary: Canary, *, seen_in: str, ip: str | None, evidence: str) -> dict[str, Any]:
        return {
            "title": f"Canary token {canary.name!r} seen in {seen_in}",
            "kind": KIND,
            "severity": "critical",
            "dedup_key": f"canary:{canary.name}",
            "entities": {"ips": [ip] if ip else []},
            "labels": {
                "canary": canary.name,
                "planted_in": canary.planted_in,
                "seen_in": seen_in[:500],
                "token_fingerprint": stable_key(canary.token)[:16],
            },
            "evidence": evidence[:2000],
        }
