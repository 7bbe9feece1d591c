"""Publish the switch state where the application's guard reads it: a Redis key and a JSON file.

Mirrors carry only ``{"engaged", "version", "changed_at"}``: the application needs the flag,
not who pulled it or why. A write never replaces a newer ``version`` (the flows publish from
several processes, and a slow one must not undo a later change) unless ``force`` is set.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

import redis

from orchestrator.config import Settings

__all__ = [
    "FILE_NAME",
    "REDIS_KEY",
    "FileMirror",
    "RedisMirror",
    "SwitchMirror",
    "mirrors_for",
]

REDIS_KEY = "orchestrator:kill_switch"
FILE_NAME = "kill_switch.json"

# Set the key only if the stored version is not newer (or when forced); atomic in Redis.
_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current and ARGV[3] ~= '1' then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded['version'] or 0) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


class SwitchMirror(Protocol):
    """A place the application can read the switch from."""

    def publish(self, state: dict[str, Any], *, force: bool = False) -> bool: ...

    def read(self) -> dict[str, Any] | None: ...


class RedisMirror:
    """The switch as a JSON string under one Redis key (used when the broker is Redis)."""

    _clients: dict[str, Any] = {}  # noqa: RUF012 - one pooled client per URL per process
    _lock = threading.Lock()

    def __init__(self, url: str, *, key: str = REDIS_KEY) -> None:
        self.url = url
        self.key = key

    def _client(self) -> Any:
        with self._lock:
            client = self._clients.get(self.url)
            if client is None:
                client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
                self._clients[self.url] = client
            return client

    def publish(self, state: dict[str, Any], *, force: bool = False) -> bool:
        """Store ``state``; False when a newer version is already there."""
        encoded = json.dumps(state, sort_keys=True)
        done = self._client().eval(
            _SET_IF_NEWER, 1, self.key, encoded, str(int(state["version"])), "1" if force else "0"
        )
        return bool(done)

    def read(self) -> dict[str, Any] | None:
        raw = self._client().get(self.key)
        return None if raw is None else dict(json.loads(raw))


class FileMirror:
    """The switch as a JSON file, replaced atomically (temp file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish(self, state: dict[str, Any], *, force: bool = False) -> bool:
        """Write ``state``; False when the file already holds a newer version."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = None if force else self._read_quietly()
            if current is not None and int(current.get("version", 0)) > int(state["version"]):
                return False
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(state, handle, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return True

    def _read_quietly(self) -> dict[str, Any] | None:
        try:
            return self.read()
        except (OSError, ValueError):
            return None

    def read(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return dict(json.load(handle))
        except FileNotFoundError:
            return None


def mirrors_for(settings: Settings) -> list[SwitchMirror]:
    """The file mirror in ``data_dir`` always, and the Redis key when the broker is Redis."""
    found: list[SwitchMirror] = [FileMirror(settings.data_dir / FILE_NAME)]
    if settings.broker_url.startswith(("redis://", "rediss://")):
        found.append(RedisMirror(settings.broker_url))
    return found
