"""Slack request signature check (v0 HMAC-SHA256, 5-minute window, each signature accepted once).

The check runs on the raw body and two headers before anything else is parsed, with the
semantics of ``slack_sdk.signature.SignatureVerifier``. What a valid signature covers
(``v0:<timestamp>:<body>``) is then remembered, by its digest, for twice the window (a
timestamp may sit up to five minutes either side of now), so a captured request cannot be
replayed while its timestamp is still accepted, however its unsigned headers are changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from slack_sdk.signature import Clock, SignatureVerifier

from orchestrator.errors import AuthenticationFailed

__all__ = ["WINDOW_SECONDS", "MemoryReplayGuard", "ReplayGuard", "SlackVerifier", "sign"]

WINDOW_SECONDS: Final = 300


class ReplayGuard(Protocol):
    """Remembers keys for a while; ``seen_before`` records the key and says if it was there."""

    def seen_before(self, key: str, ttl_seconds: float) -> bool: ...


class MemoryReplayGuard:
    """A one-process ReplayGuard (Socket Mode has no signatures; tests and single servers)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._keys: dict[str, float] = {}

    def seen_before(self, key: str, ttl_seconds: float) -> bool:
        now = self._now()
        self._keys = {k: until for k, until in self._keys.items() if until > now}
        if key in self._keys:
            return True
        self._keys[key] = now + ttl_seconds
        return False


class _FuncClock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack would send for ``body`` at ``timestamp``."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


class SlackVerifier:
    """Accepts a request only with a valid, fresh, never-seen ``v0`` signature."""

    def __init__(
        self, signing_secret: str, *, replay: ReplayGuard, now: Callable[[], float] = time.time
    ) -> None:
        self._verifier = SignatureVerifier(signing_secret, clock=_FuncClock(now))
        self._replay = replay

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise AuthenticationFailed (saying nothing about why) unless the request is Slack's."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature or not timestamp.strip().isdigit():
            raise AuthenticationFailed("invalid Slack signature")
        if not self._verifier.is_valid(body=body, timestamp=timestamp.strip(), signature=signature):
            raise AuthenticationFailed("invalid Slack signature")
        signed = b"v0:" + timestamp.strip().encode("ascii") + b":" + body
        if self._replay.seen_before(f"slack:{hashlib.sha256(signed).hexdigest()}", 2 * WINDOW_SECONDS):
            raise AuthenticationFailed("invalid Slack signature")
