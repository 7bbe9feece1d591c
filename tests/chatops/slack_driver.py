"""Signs and sends slash commands and button clicks exactly as Slack does, and reads the replies."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.support.processes import wait_for
from tests.support.receiver import Receiver

__all__ = ["SlackDriver", "slack_signature"]


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + HMAC-SHA256 over ``v0:{timestamp}:{body}`` with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackDriver:
    """Plays Slack towards the orchestrator's ``/slack/*`` endpoints."""

    def __init__(self, base_url: str, secret: str, replies: Receiver) -> None:
        self.base_url, self.secret, self.replies = base_url, secret, replies

    def signed_post(self, path: str, body: bytes, *, timestamp: int | None = None) -> httpx.Response:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": slack_signature(self.secret, stamp, body),
        }
        return httpx.post(self.base_url + path, content=body, headers=headers, timeout=10)

    def command_body(self, user: str, text: str, channel: str = "CGENERAL") -> tuple[bytes, str]:
        reply_path = f"/reply/{uuid.uuid4().hex}"
        form = {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "channel_id": channel,
            "user_id": user,
            "user_name": user.lower(),
            "command": "/ir",
            "text": text,
            "response_url": self.replies.url + reply_path,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        return urlencode(form).encode(), reply_path

    def reply(self, path: str, timeout: float = 20) -> dict[str, Any]:
        found = wait_for(lambda: self.replies.bodies(path), timeout=timeout, what=f"a reply at {path}")
        body: dict[str, Any] = found[0]
        return body

    def ir(self, user: str, text: str, channel: str = "CGENERAL") -> dict[str, Any]:
        """Send ``/ir text``; the final reply (immediate, or the one POSTed to response_url)."""
        body, path = self.command_body(user, text, channel)
        response = self.signed_post("/slack/commands", body)
        assert response.status_code == 200, response.text
        ack: dict[str, Any] = response.json()
        if ack["text"].startswith("⏳"):
            return self.reply(path)
        return ack

    def click(
        self,
        user: str,
        action_id: str,
        value: str,
        channel: str = "CROOM",
        *,
        wait: bool = True,
        message_ts: str | None = None,
    ) -> dict[str, Any] | None:
        """Click a button; ``message_ts``: the message it sits in (Slack's ``container``)."""
        reply_path = f"/reply/{uuid.uuid4().hex}"
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user},
            "channel": {"id": channel},
            "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
            "response_url": self.replies.url + reply_path,
            "actions": [{"action_id": action_id, "value": value, "type": "button"}],
        }
        if message_ts is not None:
            payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
            payload["message"] = {"ts": message_ts}
        response = self.signed_post(
            "/slack/interactions", urlencode({"payload": json.dumps(payload)}).encode()
        )
        assert response.status_code == 200, response.text
        return self.reply(reply_path) if wait else None

    def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
        payload = {
            "type": "view_submission",
            "user": {"id": user},
            "view": {**view, "state": {"values": values}},
        }
        return self.signed_post("/slack/interactions", urlencode({"payload": json.dumps(payload)}).encode())
