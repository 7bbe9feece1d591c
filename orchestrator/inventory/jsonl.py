"""A token inventory in a JSON-lines file: one object a line, read line by line, never whole.

Each line holds ``open_id`` and ``access_token`` and optionally ``refresh_token``,
``expires_at`` (Unix seconds or ISO 8601) and ``labels`` (an object). Blank lines are skipped.
``delete`` writes the kept lines to a temporary file beside the original and renames it over
the original, under an advisory ``flock`` on ``<file>.lock`` that cooperating writers should
also take.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orchestrator.inventory.jsonl_index import OpenIdIndex, file_stamp
from orchestrator.tokens.inventory import (
    DEFAULT_BATCH_SIZE,
    InventoryError,
    Scope,
    TokenRecord,
    parse_expiry,
)

__all__ = ["JsonLinesInventory"]


class JsonLinesInventory:
    """Tokens in a JSON-lines file (``.jsonl``; a ``.json`` file must be JSON lines too)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._index: OpenIdIndex | None = None
        self._index_lock = threading.Lock()

    def _parsed(self, number: int, line: str) -> dict[str, Any]:
        try:
            data = json.loads(line)
        except ValueError:
            data = None  # never quote the line: it holds tokens
        if not isinstance(data, dict):
            raise InventoryError(f"{self.path}:{number}: not a JSON object (one object a line)")
        return data

    def _check_exists(self) -> None:
        if not self.path.is_file():
            raise InventoryError(f"token inventory file {self.path} does not exist")

    def _lines(self) -> Iterator[tuple[int, str, dict[str, Any]]]:
        self._check_exists()
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line, self._parsed(number, line)

    def _lines_of(self, open_ids: Sequence[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """The lines that may hold these ``open_id``s, through the index of this file version."""
        self._check_exists()
        with open(self.path, "rb") as handle:
            with self._index_lock:  # one build per file version, shared by the worker's threads
                if self._index is None or self._index.stamp != file_stamp(handle):
                    self._index = OpenIdIndex(handle)
                index = self._index
            for number, raw in index.lines(handle, open_ids):
                line = raw.decode("utf-8")
                yield number, line, self._parsed(number, line)

    def _record(self, number: int, data: dict[str, Any]) -> TokenRecord:
        open_id, access = data.get("open_id"), data.get("access_token")
        if not isinstance(open_id, str) or not open_id or not isinstance(access, str) or not access:
            raise InventoryError(f"{self.path}:{number}: open_id and access_token must be non-empty strings")
        labels = data.get("labels") or {}
        if not isinstance(labels, dict):
            raise InventoryError(f"{self.path}:{number}: labels must be an object")
        refresh = data.get("refresh_token")
        try:
            expires = parse_expiry(data.get("expires_at"))
        except InventoryError as exc:
            raise InventoryError(f"{self.path}:{number}: {exc}") from None
        return TokenRecord(
            open_id=open_id,
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=expires,
            labels={str(k): str(v) for k, v in labels.items()},
        )

    def stream(self, scope: Scope, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[list[TokenRecord]]:
        """Batches of at most ``batch_size`` records in ``scope``, in file order."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        batch: list[TokenRecord] = []
        lines = self._lines() if scope.open_ids is None else self._lines_of(scope.open_ids)
        for number, _line, data in lines:
            record = self._record(number, data)
            if scope.is_all or scope.matches(record):
                batch.append(record)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def count(self, scope: Scope) -> int:
        """Counted by one pass over the file (cheap next to revoking what it counts)."""
        return sum(len(batch) for batch in self.stream(scope, batch_size=1000))

    def delete(self, open_ids: Sequence[str]) -> int:
        """Drop every line of these ``open_id``s; the file is replaced atomically."""
        doomed = set(open_ids)
        if not doomed:
            return 0
        deleted = 0
        self._check_exists()
        # A lock file beside the data: the data file itself is replaced, so it cannot hold the lock.
        with open(self.path.with_name(self.path.name + ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    for _number, line, data in self._lines():
                        if data.get("open_id") in doomed:
                            deleted += 1
                            continue
                        out.write(line if line.endswith("\n") else line + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, os.stat(self.path).st_mode & 0o7777)
                if deleted:
                    os.replace(tmp, self.path)
                else:
                    os.unlink(tmp)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return deleted

    def close(self) -> None:
        """Nothing to release; here so every adapter can be closed the same way."""

    def __repr__(self) -> str:
        return f"JsonLinesInventory({str(self.path)!r})"
