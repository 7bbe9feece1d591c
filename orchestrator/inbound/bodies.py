"""Request bodies read up to a limit, and refused with a 413 every common client gets to see.

Every route that takes a body reads it here: a ``Content-Length`` over the limit is refused
before a byte is read, and a body without one is counted while it streams, so no route
buffers more than its limit (a 100 MiB login form once cost the API 300 MiB).

Answering 413 while the client is still sending, then closing, resets the connection with
unread bytes in the socket: clients that send the whole body before reading (urllib,
``requests``) then see ``ConnectionResetError``, not the 413. So before answering, the rest of
the body is read and thrown away, chunk by chunk (memory stays flat), for at most
``DRAIN_BYTES`` and ``DRAIN_SECONDS``; a body bigger or slower than that gets its 413 and a
closed connection.
"""

from __future__ import annotations

from typing import Final

import anyio
from fastapi import HTTPException, Request

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "read_body"]

DRAIN_BYTES: Final = 64 * 1024 * 1024
DRAIN_SECONDS: Final = 10.0


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body when it is at most ``limit`` bytes; else ``HTTPException(413)`` naming it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await _drain(request)
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise HTTPException(400, detail="the client went away before the body ended")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            if message.get("more_body", False):
                await _drain(request)
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail=f"body larger than {limit} bytes")


async def _drain(request: Request) -> None:
    """Read and drop what is left of the body, within the drain bounds."""
    drained = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while drained <= DRAIN_BYTES:
            message = await request.receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
