"""One check for every signed webhook: Grafana, PagerDuty, Slack and TikTok.

Each sender spells its signature its own way (``v1=<hex>`` lists, ``v0=<hex>``, ``t=..,s=..``)
and signs different bytes, so its adapter parses the headers into a ``Delivery``: the exact
bytes the signature covers, the hex signatures offered and the timestamp if the scheme has one.
``verify_signed`` then does what they all need, in the order that leaks least:

1. a timestamp, when there is one, must be digits within ``window`` seconds of now, checked
   before the signature, so an old captured delivery is refused exactly like a forged one;
2. an HMAC-SHA256 of the signed bytes under any configured secret (several during a rotation)
   must equal an offered signature, compared in constant time with no early exit;
3. the delivery must not have been taken before: the replay memory is keyed by the digest of
   the signed bytes, never by a part the sender may change unsigned (a delivery id, the
   signature's spelling), for ``remember_for`` seconds.

Any failure raises ``AuthenticationFailed`` with one message that never says which part failed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from orchestrator.errors import AuthenticationFailed
from orchestrator.inbound.replay import ReplayGuard

__all__ = ["Delivery", "signed_key", "verify_signed"]

_MAX_STAMP_DIGITS: Final = 12


@dataclass(frozen=True)
class Delivery:
    """A signed delivery as its sender's adapter parsed it."""

    signed: bytes
    """The exact bytes the signature covers (the body, or the timestamp joined to it)."""
    signatures: Sequence[str]
    """The hex signatures offered (any one may match)."""
    timestamp: str | None = None
    """The signed timestamp in Unix seconds, for schemes that have one."""


def signed_key(kind: str, signed: bytes) -> str:
    """The replay key of a signed delivery: the digest of the bytes its signature covers."""
    return f"{kind}:{hashlib.sha256(signed).hexdigest()}"


def verify_signed(
    kind: str,
    delivery: Delivery,
    *,
    secrets: Sequence[bytes],
    now: float,
    window: float,
    remember_for: float,
    replay: ReplayGuard,
    failure: str = "authentication failed",
) -> str:
    """Accept ``delivery`` or raise ``AuthenticationFailed(failure)``; returns its replay key
    (the sender may ``replay.forget`` it if the delivery could not be kept)."""
    if delivery.timestamp is not None:
        stamp = delivery.timestamp
        fresh = stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_STAMP_DIGITS
        if not fresh or abs(now - int(stamp)) > window:
            raise AuthenticationFailed(failure)
    expected = [hmac.new(secret, delivery.signed, hashlib.sha256).hexdigest().encode() for secret in secrets]
    matched = False
    for offered in delivery.signatures:
        candidate = offered.strip().lower().encode("ascii", "replace")
        for digest in expected:
            matched |= hmac.compare_digest(candidate, digest)
    if not matched:
        raise AuthenticationFailed(failure)
    key = signed_key(kind, delivery.signed)
    if replay.seen_before(key, remember_for):
        raise AuthenticationFailed(failure)
    return key
