"""Where the guard reads the switch: the Redis key, the mirror file, the orchestrator's API.

Each source returns the mirror's JSON object, None when it holds no value, or raises; the
guard then asks the next one. A state that cannot be read unambiguously (not a JSON object, a
duplicate key) raises: a parser that kept the last ``engaged`` could be told "released" by
whoever can append to the file. A mirror file older than its ``max_age`` raises too: only the
scheduler's host (or ``orchestrator switch mirror``) refreshes it, so an old file is a copy
nobody keeps true any more, and an old "released" must not outvote an engaged store.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from orchestrator import clock

__all__ = [
    "DEFAULT_FILE_MAX_AGE",
    "REDIS_KEY",
    "FileSource",
    "HttpSource",
    "RedisSource",
    "Source",
    "parse_state",
]

REDIS_KEY = "orchestrator:kill_switch"
DEFAULT_FILE_MAX_AGE = 60.0


def parse_state(raw: str | bytes) -> dict[str, Any]:
    """A JSON object; ``ValueError`` for anything else, a duplicate key included."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            raise ValueError("duplicate key in the switch state")
        return found

    value = json.loads(raw, object_pairs_hook=unique)
    if not isinstance(value, dict):
        raise ValueError("the switch state is not a JSON object")
    return value


class Source(Protocol):
    """Where a reading comes from; ``read`` returns the mirror's JSON or None when it has none."""

    name: str

    def read(self) -> Mapping[str, Any] | None: ...


class RedisSource:
    """The Redis key the orchestrator publishes when its broker is Redis."""

    name = "redis"

    def __init__(self, url: str, *, key: str = REDIS_KEY, timeout: float = 0.25) -> None:
        self._url, self._key, self._timeout = url, key, timeout
        self._client: Any = None

    def read(self) -> Mapping[str, Any] | None:
        if self._client is None:
            import redis  # optional: the guard imports the standard library only (guard/__init__.py)

            self._client = redis.Redis.from_url(
                self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
        raw = self._client.get(self._key)
        return None if raw is None else parse_state(raw)


class FileSource:
    """The JSON file the orchestrator keeps in its data directory; older than ``max_age``
    seconds (by its modification time) it is no answer."""

    name = "file"

    def __init__(self, path: str | Path, *, max_age: float = DEFAULT_FILE_MAX_AGE) -> None:
        self.path = Path(path)
        self.max_age = max_age

    def read(self) -> Mapping[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                age = clock.utcnow().timestamp() - os.fstat(handle.fileno()).st_mtime
                if age > self.max_age:
                    raise ValueError(f"{self.path} is {age:.0f}s old (max {self.max_age:g}s): stale")
                return parse_state(handle.read())
        except FileNotFoundError:
            return None


class HttpSource:
    """``GET /v1/switch`` on the orchestrator's API (with the read-only guard token)."""

    name = "http"

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 1.0) -> None:
        self._url = base_url.rstrip("/") + "/v1/switch"
        self._token, self._timeout = token, timeout

    def read(self) -> Mapping[str, Any] | None:
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            return parse_state(response.read())

    def __repr__(self) -> str:
        return f"HttpSource({self._url!r})"  # never the token
