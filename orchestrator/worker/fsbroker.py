"""The embedded broker: kombu's filesystem transport with atomic message files.

kombu's own filesystem transport creates a message file and then writes it; a consumer
listing the folder in between moves the still-empty file away, reads nothing and the
worker dies on the JSON error. Here a message is written in a staging folder and renamed
into the queue folder, so a consumer only ever sees whole messages.

kombu's ``_get`` also lists and sorts the whole folder for every message and scans it with
``list.pop(0)``: with a storm's thousands of queued files the worker spent most of its CPU
there, listing the folder again for each empty queue it polled. Here one listing serves every
queue until the one asked for is used up (and is redone at most every 20 ms, or four times its
own cost), and a message is claimed by renaming it into the processed folder (a file another
consumer took first is skipped).
"""

from __future__ import annotations

import os
from collections import deque
from queue import Empty
from time import monotonic, monotonic_ns
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps as _dumps
from kombu.utils.json import loads

from orchestrator import ids

__all__ = ["SCHEME", "STAGING", "Channel", "Transport", "broken"]

SCHEME = "orchfs"
_RELIST_SECONDS = 0.02
"""An empty queue is looked for again at most this often (the worker polls every queue in turn),
and never sooner than four listings' time: listing a storm's thousands of files is work itself."""


def dumps(message: Any) -> str:
    """kombu's JSON encoding of a message (it knows Celery's types)."""
    return str(_dumps(message))  # type: ignore[no-untyped-call]


STAGING = ".staging"
"""Where a message is written before it is renamed into its queue folder; a dot-folder, which the
consumer's name filter never matches. Made by the first message."""


def broken(options: dict[str, Any]) -> str | None:
    """What keeps the folder broker (``broker_transport_options``) from taking or handing out a
    message, or None: a queue folder, or the staging folder, that is not a writable folder."""
    staging = os.path.join(options["data_folder_out"], STAGING)
    folders = [("queue", options["data_folder_in"]), ("queue", options["data_folder_out"])]
    for what, folder in folders + ([("staging", staging)] if os.path.lexists(staging) else []):
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            return f"the folder broker's {what} folder is not a writable folder"
    return None


class Channel(filesystem.Channel):
    """Puts a message by writing it aside and renaming it into place (atomic on POSIX); gets the
    oldest message of a queue from a listing kept until it is used up."""

    _listed: dict[str, deque[str]] | None = None
    _listed_at = 0.0
    _relist_after = _RELIST_SECONDS

    def _relist(self) -> dict[str, deque[str]]:
        """One listing of the folder, by queue, oldest first (a nanosecond clock leads each name)."""
        started = monotonic()
        found: dict[str, list[str]] = {}
        for name in os.listdir(self.data_folder_in):
            queue, _, kind = name.partition(".")[2].rpartition(".")
            if kind == "msg":
                found.setdefault(queue, []).append(name)
        self._listed = {queue: deque(sorted(names)) for queue, names in found.items()}
        self._listed_at = monotonic()
        self._relist_after = max(_RELIST_SECONDS, 4 * (self._listed_at - started))
        return self._listed

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        pending = (self._listed or {}).get(queue)
        if not pending and monotonic() - self._listed_at >= self._relist_after:
            pending = self._relist().get(queue)
        while pending:
            name = pending.popleft()
            taken = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except FileNotFoundError:  # another consumer took it
                continue
            try:
                with open(taken, "rb") as handle:
                    payload = handle.read()
                os.remove(taken)
            except OSError as exc:
                raise ChannelError(f"cannot read message {name!r} of queue {queue!r}") from exc
            return loads(payload)  # type: ignore[no-untyped-call]
        raise Empty()

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = f"{monotonic_ns():020d}_{ids.random_hex()}.{queue}.msg"  # sorts oldest first
        staging = os.path.join(self.data_folder_out, STAGING)
        os.makedirs(staging, exist_ok=True)
        temporary = os.path.join(staging, name)
        try:
            with open(temporary, "wb") as handle:
                handle.write(dumps(payload).encode("utf-8"))
            os.replace(temporary, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"cannot add a message to {self.data_folder_out!r}") from exc


class Transport(filesystem.Transport):
    """The filesystem transport with atomic puts."""

    Channel = Channel


TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
