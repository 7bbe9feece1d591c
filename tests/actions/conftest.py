"""Fixtures for the action tests: an ActionContext on a fake timeline, a real HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orchestrator.actions import ActionContext
from tests.actions.fakes import FakeTimeline, Received, Receiver


@pytest.fixture
def timeline() -> FakeTimeline:
    return FakeTimeline()


@pytest.fixture
def ctx(timeline: FakeTimeline) -> ActionContext:
    return ActionContext(
        run_id="run-1",
        step_id="step-1",
        incident_id="inc-1",
        idempotency_key="run-1:step-1:1",
        dry_run=False,
        actor="playbook:t",
        timeline=timeline,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    requests: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            requests.append(Received(self.path, dict(self.headers.items()), json.loads(raw or b"null")))
            code = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
            payload = b'{"ok": true}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
