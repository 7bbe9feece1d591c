"""A real local webhook receiver: records every POST and answers with scripted statuses; it can
hold the first POST to a path unanswered, so a test can kill the sender while its call is open."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.server import serve_app


@dataclass
class Receiver:
    """What arrived (path, headers, JSON) and the statuses still to answer (then 200).

    The first POST to a path in ``hold`` is recorded, then ``held`` is set and its answer waits
    for ``release`` (at most a minute): the sender is caught between its send and the answer."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: set[str] = field(default_factory=set)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self, path: str | None = None) -> list[Any]:
        with self.lock:
            return [c["json"] for c in self.calls if path is None or c["path"] == path]


@contextmanager
def receiver(hold: frozenset[str] = frozenset()) -> Iterator[Receiver]:
    state = Receiver(hold=set(hold))

    async def record(request: Request) -> JSONResponse:
        raw = await request.body()
        with state.lock:
            state.calls.append(
                {
                    "path": request.url.path,
                    "port": request.client.port if request.client else 0,  # the sender's end
                    "headers": dict(request.headers),
                    "json": json.loads(raw or b"null"),
                }
            )
            status = state.statuses.pop(0) if state.statuses else 200
            stall = request.url.path in state.hold and not state.held.is_set()
            if stall:
                state.held.set()
        if stall:
            await asyncio.to_thread(state.release.wait, 60)
        return JSONResponse({"ok": status < 400}, status_code=status)

    app = Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])
    with serve_app(app) as base_url:
        state.url = base_url
        try:
            yield state
        finally:
            state.release.set()
