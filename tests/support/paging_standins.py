"""Local stand-ins of PagerDuty's Events API v2 and Opsgenie's Alert API, over real HTTP.

Each is a small threaded HTTP server on 127.0.0.1 following the documented contracts:

- PagerDuty ``POST /v2/enqueue``: the integration's ``routing_key`` in the JSON body,
  ``event_action`` trigger/acknowledge/resolve, ``dedup_key``; a trigger needs ``payload`` with
  ``summary``, ``source`` and ``severity`` (critical, error, warning, info). 202
  ``{"status": "success", "message": "Event processed", "dedup_key": ...}``; a bad event 400
  ``{"status": "invalid event", "message": ..., "errors": [...]}``.
- Opsgenie ``POST /v2/alerts`` (``message`` required, ``alias`` dedups) and
  ``POST /v2/alerts/{alias}/close?identifierType=alias``, with ``Authorization: GenieKey KEY``;
  202 ``{"result": "Request will be processed", "took": ..., "requestId": ...}``; a wrong key 401.

``fail_next(n)`` answers the next ``n`` requests with HTTP 500 (nothing applied), as a service
having a bad minute does. Every request is recorded with its headers and raw body.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Recorded", "StandIn", "opsgenie_standin", "pagerduty_standin"]

_PD_SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class Recorded:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    raw: str
    status: int

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


@dataclass
class StandIn:
    """A service's state: its alerts by key (``open`` / ``resolved``) and every request."""

    key: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _failures: int = 0

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` requests with HTTP 500."""
        with self.lock:
            self._failures = count

    def take_failure(self) -> bool:
        with self.lock:
            if self._failures <= 0:
                return False
            self._failures -= 1
            return True


def _pagerduty(state: StandIn, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
    if path != "/v2/enqueue":
        return 404, {"status": "not found"}
    errors: list[str] = []
    if not isinstance(body, dict):
        return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]}
    if body.get("routing_key") != state.key:
        errors.append("'routing_key' is invalid")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is missing or blank")
    key = body.get("dedup_key") or uuid.uuid4().hex
    if action == "trigger":
        payload = body.get("payload") or {}
        for name in ("summary", "source"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if payload.get("severity") not in _PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
    elif not body.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if errors:
        return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    with state.lock:
        if action == "trigger":
            state.alerts[key] = {"status": "open", "payload": body["payload"]}
        elif key in state.alerts:
            state.alerts[key]["status"] = "resolved" if action == "resolve" else "acknowledged"
    return 202, {"status": "success", "message": "Event processed", "dedup_key": key}


def _opsgenie(state: StandIn, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
    request_id = str(uuid.uuid4())
    if headers.get("authorization") != f"GenieKey {state.key}":
        return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": request_id}
    parts = urlsplit(path)
    accepted = {"result": "Request will be processed", "took": 0.005, "requestId": request_id}
    if parts.path == "/v2/alerts":
        if not isinstance(body, dict) or not body.get("message"):
            return 422, {"message": "Request body is not processable. Please check the errors.", "took": 0.0}
        alias = body.get("alias") or request_id
        with state.lock:
            state.alerts[alias] = {"status": "open", "alert": body}
        return 202, accepted
    segments = parts.path.split("/")
    if len(segments) == 5 and segments[:3] == ["", "v2", "alerts"] and segments[4] == "close":
        if parse_qs(parts.query).get("identifierType") != ["alias"]:
            return 404, {"message": "Alert with id does not exist", "took": 0.0, "requestId": request_id}
        alias = unquote(segments[3])
        with state.lock:
            if alias in state.alerts:
                state.alerts[alias]["status"] = "closed"
        return 202, accepted
    return 404, {"message": "Not found", "took": 0.0, "requestId": request_id}


@contextmanager
def _serve(state: StandIn, answer: Any) -> Iterator[StandIn]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
            headers = {k.lower(): v for k, v in self.headers.items()}
            if state.take_failure():
                status, reply = 500, {"message": "Internal Server Error"}
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                status, reply = answer(state, self.path, headers, body)
            with state.lock:
                state.requests.append(Recorded(self.path, headers, raw, status))
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def pagerduty_standin(routing_key: str) -> Iterator[StandIn]:
    """PagerDuty's Events API v2 for one integration (``routing_key``)."""
    with _serve(StandIn(routing_key), _pagerduty) as state:
        yield state


@contextmanager
def opsgenie_standin(api_key: str) -> Iterator[StandIn]:
    """Opsgenie's Alert API for one API integration (``api_key``)."""
    with _serve(StandIn(api_key), _opsgenie) as state:
        yield state
