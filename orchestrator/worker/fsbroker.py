"""The embedded broker: kombu's filesystem transport with atomic message files.

kombu's own filesystem transport creates a message file and then writes it; a consumer
listing the folder in between moves the still-empty file away, reads nothing and the
worker dies on the JSON error. Here a message is written in a staging folder and renamed
into the queue folder, so a consumer only ever sees whole messages.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps as _dumps

__all__ = ["SCHEME", "Channel", "Transport"]

SCHEME = "orchfs"


def dumps(message: Any) -> str:
    """kombu's JSON encoding of a message (it knows Celery's types)."""
    return str(_dumps(message))  # type: ignore[no-untyped-call]


class Channel(filesystem.Channel):
    """Puts a message by writing it aside and renaming it into place (atomic on POSIX)."""

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        # A dot-folder: the consumer's name filter never matches ".staging".
        staging = os.path.join(self.data_folder_out, ".staging")
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
