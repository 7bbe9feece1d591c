"""The revocation-provider port: what revoking a token (and probing one) answers, and the
``RevocationProvider`` that TikTok's clients (OAuth v2, the Marketing API) are adapters of.

Revocation and proof act on these values alone; which vendor code means what is the adapters'
table (``tiktok/errors.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["ProbeResult", "ProbingProvider", "RevocationProvider", "RevokeOutcome", "RevokeResult"]


class RevokeResult(StrEnum):
    """What a revocation attempt means for the caller."""

    REVOKED = "revoked"  # TikTok accepted: the authorisation is gone
    ALREADY_DEAD = "already_dead"  # the body says the token was invalid/expired/revoked
    RETRYABLE = "retryable"  # transient: back off (honour retry_after) and try again
    FATAL = "fatal"  # our credentials or request are wrong: raise the alarm
    GRANT_LOST = "grant_lost"  # refresh said invalid_grant: a person must act


class ProbeResult(StrEnum):
    """What ``GET /v2/user/info/`` says about a token: proof of death, or not."""

    ALIVE = "alive"
    DEAD = "dead"
    RETRYABLE = "retryable"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    """One classified attempt. ``description`` is redacted: it never holds a token or secret.

    ``retry_after`` is the server's wish in seconds (from ``Retry-After`` or the vendor's
    documented pause) when RETRYABLE; ``log_id`` is what TikTok support asks to be quoted.
    """

    result: RevokeResult
    error_code: str | None = None
    description: str = ""
    log_id: str | None = None
    http_status: int | None = None
    retry_after: float | None = None


class RevocationProvider(Protocol):
    """Anything that can kill one authorisation (OAuth v2 or the Marketing API)."""

    def revoke_grant(self, access_token: str, refresh_token: str | None = None) -> RevokeOutcome: ...


@runtime_checkable
class ProbingProvider(RevocationProvider, Protocol):
    """A provider that can also tell a dead token from a live one (OAuth v2's user-info probe;
    the Marketing API has none, so its tokens are neither probed nor sampled)."""

    def probe(self, token: str) -> ProbeResult: ...
