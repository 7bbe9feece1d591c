"""Socket Mode for teams without a public URL: the same handlers as HTTP, over Slack's WebSocket.

Socket Mode requests are authenticated by the app-level token (``ORCH_SLACK_APP_TOKEN``) on
the connection, so there is no signature to check; every envelope is acknowledged at once and
long work is finished in a thread that answers through ``response_url``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from orchestrator.chatops.access import Access
from orchestrator.chatops.client import client_for
from orchestrator.chatops.interactions import Outcome, command_outcome, deliver, interaction_outcome
from orchestrator.errors import ConfigError
from orchestrator.logging import get_logger
from orchestrator.ports import Ports

__all__ = ["Acknowledger", "make_listener", "run_socket_mode"]

_log = get_logger(__name__)


class Acknowledger(Protocol):
    """The part of ``SocketModeClient`` a listener uses."""

    def send_socket_mode_response(self, response: SocketModeResponse | dict[str, Any]) -> None: ...


def make_listener(runtime: Ports, access: Access) -> Callable[[Any, SocketModeRequest], None]:
    """A Socket Mode listener: ack the envelope with the immediate answer, finish the rest in a thread."""

    def listen(client: Acknowledger, request: SocketModeRequest) -> None:
        payload: Any = request.payload if isinstance(request.payload, dict) else {}
        outcome: Outcome
        if request.type == "slash_commands":
            outcome = command_outcome(runtime, {k: str(v) for k, v in payload.items()}, access)
        elif request.type == "interactive":
            outcome = interaction_outcome(runtime, payload, access)
        else:
            outcome = Outcome()
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=outcome.ack)
        )
        if outcome.later is not None:
            threading.Thread(target=deliver, args=(outcome,), daemon=True, name="slack-work").start()

    return listen


def run_socket_mode(runtime: Ports, stop: threading.Event) -> None:
    """Connect with the app token and serve until ``stop`` is set."""
    settings = runtime.settings
    if settings.slack_bot_token is None or settings.slack_app_token is None:
        raise ConfigError("Socket Mode needs ORCH_SLACK_BOT_TOKEN and ORCH_SLACK_APP_TOKEN (xapp-...)")
    client = client_for(settings)
    access = Access(settings, members=client.usergroup_members)
    socket = SocketModeClient(app_token=settings.slack_app_token.get_secret_value(), web_client=client.web)
    socket.socket_mode_request_listeners.append(make_listener(runtime, access))
    socket.connect()
    _log.info("slack_socket_mode_connected")
    try:
        stop.wait()
    finally:
        socket.close()
