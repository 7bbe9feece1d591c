"""Slack request signature check (v0 HMAC-SHA256, 5-minute window, each signature accepted once).

Slack signs ``v0:<timestamp>:<body>`` and sends ``X-Slack-Signature: v0=<hex>`` with
``X-Slack-Request-Timestamp``. This module only reads those two headers; the check itself
(time first, constant-time HMAC, a replay memory keyed by the digest of what was signed, kept
for twice the window since a timestamp may sit five minutes either side of now) is the one
every signed webhook gets (``inbound/signatures.py``), so a captured request cannot be replayed
while its timestamp is still accepted, however its unsigned headers are changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Final

from slack_sdk.signature import SignatureVerifier

from orchestrator.inbound.replay import ReplayGuard
from orchestrator.inbound.signatures import Delivery, verify_signed

__all__ = ["WINDOW_SECONDS", "SlackVerifier", "sign"]

WINDOW_SECONDS: Final = 300
_FAILED: Final = "invalid Slack signature"
_VERSION: Final = "v0="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack would send for ``body`` at ``timestamp`` (slack-sdk's own)."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


class SlackVerifier:
    """Accepts a request only with a valid, fresh, never-seen ``v0`` signature."""

    def __init__(
        self, signing_secret: str, *, replay: ReplayGuard, now: Callable[[], float] = time.time
    ) -> None:
        self._secret = signing_secret.encode("utf-8")
        self._replay = replay
        self._now = now

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise AuthenticationFailed (saying nothing about why) unless the request is Slack's."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = (lowered.get("x-slack-request-timestamp") or "").strip()
        signature = (lowered.get("x-slack-signature") or "").strip()
        offered = [signature[len(_VERSION) :]] if signature.startswith(_VERSION) else []
        signed = b"v0:" + timestamp.encode("ascii", "replace") + b":" + body
        verify_signed(
            "slack", Delivery(signed, offered, timestamp), secrets=[self._secret], now=self._now(),
            window=WINDOW_SECONDS, remember_for=2 * WINDOW_SECONDS, replay=self._replay, failure=_FAILED,
        )  # fmt: skip
