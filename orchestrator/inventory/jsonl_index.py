"""Where each ``open_id``'s lines are in a JSON-lines inventory: found without reading the file.

A revocation batch asks the inventory for its thousand tokens by ``open_id``. Read line by line,
every batch reads the whole file, so a revocation costs batches x lines: quadratic. One pass
builds this index instead (a 64-bit hash of each line's ``open_id``, sorted, beside the line's
byte offset and number: 20 bytes a line, 20 MB for a million); a batch then seeks to its lines.
The index belongs to one version of the file (inode, size, modification time) and is rebuilt
when the file changes.
"""

from __future__ import annotations

import hashlib
import os
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import BinaryIO

__all__ = ["OpenIdIndex", "file_stamp"]

_OPEN_ID = re.compile(rb'"open_id"\s*:\s*"([^"\\]*)"')
_UNSURE = 0
"""The key of a line whose ``open_id`` cannot be read without parsing it (escaped, repeated,
missing): every lookup reads such lines, so nothing is missed."""


def file_stamp(handle: BinaryIO) -> tuple[int, int, int]:
    """The open file's identity and version: a replaced or rewritten file gets another stamp."""
    stat = os.fstat(handle.fileno())
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _key(open_id: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(open_id, digest_size=8).digest(), "big") | 1  # never _UNSURE


class OpenIdIndex:
    """Sorted keys with the byte offset and line number of each non-blank line."""

    def __init__(self, handle: BinaryIO) -> None:
        """Index the file open as ``handle`` (read from its start; the position is left anywhere)."""
        self.stamp = file_stamp(handle)
        keys, offsets, numbers = array("Q"), array("Q"), array("L")
        handle.seek(0)
        offset = 0
        for number, line in enumerate(handle, start=1):
            if line.strip():
                found = _OPEN_ID.findall(line)
                keys.append(_key(found[0]) if len(found) == 1 else _UNSURE)
                offsets.append(offset)
                numbers.append(number)
            offset += len(line)
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._keys = array("Q", (keys[i] for i in order))
        self._offsets = array("Q", (offsets[i] for i in order))
        self._numbers = array("L", (numbers[i] for i in order))

    def _positions(self, key: int) -> Iterator[tuple[int, int]]:
        at = bisect_left(self._keys, key)
        while at < len(self._keys) and self._keys[at] == key:
            yield self._offsets[at], self._numbers[at]
            at += 1

    def lines(self, handle: BinaryIO, open_ids: Iterable[str]) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) of every line that may hold one of ``open_ids``, in file order
        (hash collisions and unsure lines included: the caller checks what it parses)."""
        positions = set(self._positions(_UNSURE))
        for open_id in open_ids:
            positions.update(self._positions(_key(open_id.encode())))
        for offset, number in sorted(positions):
            handle.seek(offset)
            yield number, handle.readline()
