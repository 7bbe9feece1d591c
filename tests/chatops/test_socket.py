"""Socket Mode: envelopes are acknowledged at once and served by the same handlers as HTTP."""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from orchestrator.chatops.access import Access
from orchestrator.chatops.socket import make_listener
from orchestrator.timeline import service as timeline
from orchestrator.timeline.models import SYSTEM_CHAIN
from orchestrator.worker.runtime import Runtime
from tests.support.processes import wait_for
from tests.support.receiver import receiver


class Acks:
    """Stands in for the WebSocket side of ``SocketModeClient``: keeps what would be sent."""

    def __init__(self) -> None:
        self.sent: list[SocketModeResponse] = []
        self.lock = threading.Lock()

    def send_socket_mode_response(self, response: SocketModeResponse | dict[str, Any]) -> None:
        assert isinstance(response, SocketModeResponse)
        with self.lock:
            self.sent.append(response)


def _command(text: str, user: str, response_url: str = "") -> SocketModeRequest:
    payload = {
        "command": "/ir",
        "text": text,
        "user_id": user,
        "channel_id": "C1",
        "response_url": response_url,
    }
    return SocketModeRequest(type="slash_commands", envelope_id=f"env-{text}-{user}", payload=payload)


def test_help_is_in_the_acknowledgement(runtime: Runtime) -> None:
    acks = Acks()
    make_listener(runtime, Access(runtime.settings))(acks, _command("help", "U1"))
    [ack] = acks.sent
    assert ack.envelope_id == "env-help-U1" and "`/ir status [INCIDENT]`" in ack.payload["text"]  # type: ignore[index]


def test_work_is_acknowledged_then_answered_through_response_url(runtime: Runtime) -> None:
    acks = Acks()
    listen = make_listener(runtime, Access(runtime.settings))
    with receiver() as replies:
        listen(acks, _command("status", "U1", replies.url + "/status"))
        listen(acks, _command("disconnect", "UNOBODY", replies.url + "/refused"))
        status = wait_for(lambda: replies.bodies("/status"), timeout=10, what="the status reply")
        refused = wait_for(lambda: replies.bodies("/refused"), timeout=10, what="the refusal")
    assert [(a.payload or {}).get("text") for a in acks.sent] == [
        "⏳ Working on `/ir status`…",
        "⏳ Working on `/ir disconnect`…",
    ]
    assert status[0]["text"].startswith("Kill switch: 🟢 released")
    assert refused[0]["text"].startswith("⛔ You are not allowed to disconnect")
    with runtime.store.unit_of_work() as session:
        kinds = [(e.kind, e.actor) for e in timeline.entries(session, SYSTEM_CHAIN)]
    assert ("slack.refused", "slack:UNOBODY") in kinds and ("slack.command", "slack:U1") in kinds


def test_other_envelopes_are_acknowledged_and_ignored(runtime: Runtime) -> None:
    acks = Acks()
    make_listener(runtime, Access(runtime.settings))(
        acks, SocketModeRequest(type="events_api", envelope_id="env-e", payload={"event": {}})
    )
    assert [(a.envelope_id, a.payload) for a in acks.sent] == [("env-e", None)]
