"""TikTok adapters: the OAuth v2 and Marketing API revocation clients, and the simulator.

Import from here: ``from orchestrator.tiktok import TikTokClient, RevokeResult``. The
simulator lives in :mod:`orchestrator.tiktok.simulator` and is not imported here, so the
application's import of the clients never pulls in uvicorn.
"""

from __future__ import annotations

from orchestrator.tiktok.business import BusinessClient
from orchestrator.tiktok.client import (
    ClientToken,
    RevocationProvider,
    TikTokClient,
    TokenPair,
    token_fingerprint,
)
from orchestrator.tiktok.errors import (
    CredentialsRejected,
    GrantLost,
    ProbeResult,
    RequestRejected,
    RevokeOutcome,
    RevokeResult,
    TikTokApiError,
    TikTokThrottled,
    TikTokUnavailable,
    TokenAlreadyDead,
)

__all__ = [
    "BusinessClient",
    "ClientToken",
    "CredentialsRejected",
    "GrantLost",
    "ProbeResult",
    "RequestRejected",
    "RevocationProvider",
    "RevokeOutcome",
    "RevokeResult",
    "TikTokApiError",
    "TikTokClient",
    "TikTokThrottled",
    "TikTokUnavailable",
    "TokenAlreadyDead",
    "TokenPair",
    "token_fingerprint",
]
