"""A real local webhook receiver: records every POST and answers with scripted statuses."""

from __future__ import annotations

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
    """What arrived (path, headers, JSON) and the statuses still to answer (then 200)."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str | None = None) -> list[Any]:
        with self.lock:
            return [c["json"] for c in self.calls if path is None or c["path"] == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    async def record(request: Request) -> JSONResponse:
        raw = await request.body()
        with state.lock:
            state.calls.append(
                {
                    "path": request.url.path,
                    "headers": dict(request.headers),
                    "json": json.loads(raw or b"null"),
                }
            )
            status = state.statuses.pop(0) if state.statuses else 200
        return JSONResponse({"ok": status < 400}, status_code=status)

    app = Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])
    with serve_app(app) as base_url:
        state.url = base_url
        yield state
