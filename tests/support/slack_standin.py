"""A local stand-in of the Slack Web API (the methods the orchestrator calls), over real HTTP.

It follows Slack's documented contracts: ``POST /api/<method>`` with form or JSON arguments,
``Authorization: Bearer <token>``, answers ``{"ok": true, ...}`` or ``{"ok": false, "error"}``
with HTTP 200, and HTTP 429 with ``Retry-After`` when rate limited. Every call is recorded.

``outage("5xx")`` makes every call fail as Slack does when it is down (HTTP 503 with an HTML
page and HTTP 500 ``{"ok": false, "error": "fatal_error"}``, alternately; nothing is applied),
``outage("refuse")`` stops listening (connections refused) and ``outage(None)`` ends either,
serving again on the same port with the workspace's state intact.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port

__all__ = ["SlackStandIn", "slack_standin"]


@dataclass
class SlackStandIn:
    """The workspace's state and every call made; script 429s with ``rate_limit``."""

    token: str
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pins: dict[str, list[str]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    raw_bodies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _limited: int = 0
    _retry_after: int = 1
    _ts: int = 0
    _down: Literal["5xx", "refuse"] | None = None
    _listener: _Listener | None = None

    def outage(self, mode: Literal["5xx", "refuse"] | None) -> None:
        """Start an outage (``"5xx"`` or ``"refuse"``, see the module docstring) or end it (None)."""
        with self.lock:
            was, self._down = self._down, mode
        if self._listener is None:
            return
        if mode == "refuse" and was != "refuse":
            self._listener.stop()
        elif mode != "refuse" and was == "refuse":
            self._listener.start()

    def failed_calls(self, method: str | None = None) -> int:
        """Calls answered 5xx by an outage (of ``method``, or of every method)."""
        with self.lock:
            return sum(1 for c in self.calls if c["status"] >= 500 and method in (None, c["method"]))

    def rate_limit(self, calls: int, retry_after: int = 1) -> None:
        """Answer the next ``calls`` calls with 429 and ``Retry-After``."""
        with self.lock:
            self._limited, self._retry_after = calls, retry_after

    def methods(self) -> list[str]:
        with self.lock:
            return [c["method"] for c in self.calls]

    def answered(self, method: str) -> list[dict[str, Any]]:
        """Arguments of the calls of ``method`` that were served (not rate limited)."""
        with self.lock:
            return [c["args"] for c in self.calls if c["method"] == method and c["status"] == 200]

    def next_ts(self) -> str:
        self._ts += 1
        return f"{int(time.time())}.{self._ts:06d}"

    def dispatch(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        result: dict[str, Any] = handler(args)
        return result

    def _channel(self, args: dict[str, Any]) -> dict[str, Any] | None:
        return self.channels.get(str(args.get("channel", "")))

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://standin.slack.test/",
            "team": "Stand-in",
            "user": "ir-bot",
            "team_id": "T00000001",
            "user_id": "UBOT",
            "bot_id": "B00000001",
        }

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's channel names: required, at most 80 characters, lower case letters, digits,
        hyphens and underscores only, unique in the workspace."""
        name = str(args.get("name", ""))
        if not name:
            return {"ok": False, "error": "invalid_name_required"}
        if len(name) > 80:
            return {"ok": False, "error": "invalid_name_maxlength"}
        if re.fullmatch(r"[a-z0-9_-]+", name) is None:
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c["name"] == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel: dict[str, Any] = {
            "id": f"C{len(self.channels) + 1:08d}",
            "name": name,
            "members": ["UBOT"],
            "topic": "",
        }
        self.channels[channel["id"]] = channel
        self.messages[channel["id"]] = {}
        return {"ok": True, "channel": self._conversation(channel)}

    def _conversation(self, channel: dict[str, Any]) -> dict[str, Any]:
        """A channel object as Slack returns it (the fields the orchestrator reads)."""
        topic = {
            "value": channel.get("topic", ""),
            "creator": "UBOT" if channel.get("topic") else "",
            "last_set": 0,
        }
        return {"id": channel["id"], "name": channel["name"], "topic": topic}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        found = [self._conversation(c) for c in self.channels.values()]
        return {"ok": True, "channels": found, "response_metadata": {"next_cursor": ""}}

    def _conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        """``channel`` and ``topic`` (at most 250 characters, else ``too_long``); the bot must be in it."""
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if "UBOT" not in channel["members"]:
            return {"ok": False, "error": "not_in_channel"}
        topic = str(args.get("topic", ""))
        if len(topic) > 250:
            return {"ok": False, "error": "too_long"}
        channel["topic"] = topic
        return {"ok": True, "channel": self._conversation(channel)}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "no_user"}
        if all(u in channel["members"] for u in users):
            return {"ok": False, "error": "already_in_channel"}
        channel["members"].extend(u for u in users if u not in channel["members"])
        return {"ok": True, "channel": {"id": channel["id"]}}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's user object: ``name`` (the handle), ``real_name`` and ``profile`` with
        ``display_name`` (may be empty) and ``real_name``; ``user_not_found`` otherwise."""
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def add_user(self, user_id: str, real_name: str, display_name: str = "") -> None:
        """A member of the workspace, as ``users.info`` describes one."""
        handle = real_name.lower().replace(" ", ".")
        profile = {"real_name": real_name, "display_name": display_name}
        self.users[user_id] = {"id": user_id, "name": handle, "real_name": real_name, "profile": profile}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self.next_ts()
        message = {"ts": ts, "text": args.get("text"), "blocks": args.get("blocks"), "edits": 0}
        message["thread_ts"] = args.get("thread_ts")
        self.messages[channel["id"]][ts] = message
        return {"ok": True, "channel": channel["id"], "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        message = self.messages[channel["id"]].get(str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.update(text=args.get("text"), blocks=args.get("blocks"), edits=message["edits"] + 1)
        return {"ok": True, "channel": channel["id"], "ts": message["ts"], "text": message["text"]}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        pins = self.pins.setdefault(channel["id"], [])
        ts = str(args.get("timestamp"))
        if ts not in self.messages[channel["id"]]:
            return {"ok": False, "error": "message_not_found"}
        if ts in pins:
            return {"ok": False, "error": "already_pinned"}
        pins.append(ts)
        return {"ok": True}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        self.views.append({"trigger_id": args["trigger_id"], "view": view})
        return {"ok": True, "view": {"id": f"V{len(self.views):08d}", **(view or {})}}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._channel(args) is None:
            return {"ok": False, "error": "channel_not_found"}
        self.ephemeral.append(dict(args))
        return {"ok": True, "message_ts": self.next_ts()}


async def _arguments(request: Request) -> tuple[dict[str, Any], str]:
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        return dict(json.loads(raw or "{}")), raw
    args: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    args.update(request.query_params)
    for key in ("blocks", "view"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args, raw


def _unavailable(serial: int) -> Response:
    """What a down Slack answers: its load balancer's HTML 503, or its own JSON 500."""
    if serial % 2:
        return Response("<html><body>503 Service Unavailable</body></html>", 503, media_type="text/html")
    return JSONResponse({"ok": False, "error": "fatal_error"}, status_code=500)


class _Listener:
    """uvicorn serving the stand-in on one fixed port, stoppable and restartable (refused connections)."""

    def __init__(self, app: Starlette) -> None:
        self.app, self.port = app, free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, daemon=True, name="slack-standin")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the Slack stand-in could not listen on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None


@contextmanager
def slack_standin(token: str) -> Iterator[SlackStandIn]:
    """Serve the stand-in on a free port; ``url`` ends with ``/api/`` like Slack's base URL."""
    state = SlackStandIn(token=token)

    async def api(request: Request) -> Response:
        method = request.path_params["method"]
        args, raw = await _arguments(request)
        if isinstance(args.get("users"), list):
            args["users"] = ",".join(args["users"])
        with state.lock:
            state.raw_bodies.append(raw)
            call: dict[str, Any] = {"method": method, "args": args, "status": 200}
            state.calls.append(call)
            if state._down is not None:
                answer = _unavailable(len(state.calls))
                call["status"] = answer.status_code
                return answer
            if state._limited > 0:
                state._limited -= 1
                call["status"] = 429
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": str(state._retry_after)},
                )
            if request.headers.get("authorization") != f"Bearer {state.token}":
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse(state.dispatch(method, args))

    listener = state._listener = _Listener(
        Starlette(routes=[Route("/api/{method}", api, methods=["POST", "GET"])])
    )
    listener.start()
    state.url = f"http://127.0.0.1:{listener.port}/api/"
    try:
        yield state
    finally:
        listener.stop()
