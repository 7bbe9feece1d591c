"""TikTok's webhook as the simulator sends it: the documented body, signed as TikTok documents.

``TikTok-Signature: t=<unix seconds>,s=<hex>``, where ``s`` is HMAC-SHA256 keyed with the
app's client secret over ``"<t>.<raw body>"``; the body is
``{client_key, event, create_time, user_openid, content}`` with ``content`` a JSON string.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from orchestrator import clock

__all__ = ["authorization_removed", "deliver", "sign"]


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``TikTok-Signature`` header value for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def authorization_removed(
    client_key: str, open_id: str, reason: int, *, create_time: int | None = None
) -> bytes:
    """The raw body of an ``authorization.removed`` event (reason 5: the developer revoked it)."""
    body = {
        "client_key": client_key,
        "event": "authorization.removed",
        "create_time": create_time if create_time is not None else int(clock.utcnow().timestamp()),
        "user_openid": open_id,
        "content": json.dumps({"reason": reason}),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def deliver(url: str, secret: str, body: bytes, *, timestamp: int | None = None, timeout: float = 5.0) -> int:
    """POST one signed event to ``url``; returns the HTTP status (0 when nobody answered)."""
    stamp = timestamp if timestamp is not None else int(clock.utcnow().timestamp())
    headers = {"Content-Type": "application/json", "TikTok-Signature": sign(secret, body, stamp)}
    try:
        return httpx.post(url, content=body, headers=headers, timeout=timeout).status_code
    except httpx.HTTPError:
        return 0
