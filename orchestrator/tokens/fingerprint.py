"""A token's SHA-256 fingerprint: the only form of a token the orchestrator ever stores."""

from __future__ import annotations

import hashlib

__all__ = ["fingerprint"]


def fingerprint(token: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 token (64 characters).

    Its first 16 characters equal ``orchestrator.tiktok.client.token_fingerprint`` (the short
    form in logs), so a log line and a stored outcome can be matched.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
