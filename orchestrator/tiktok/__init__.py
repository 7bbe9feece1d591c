"""TikTok adapters: the OAuth v2 and Marketing API revocation clients, and the simulator.

Import from here: ``from orchestrator.tiktok import TikTokClient, TokenAlreadyDead``; what an
attempt answers (``RevokeResult``, ``RevokeOutcome``, ``ProbeResult``) and the
``RevocationProvider`` port are the domain's, in :mod:`orchestrator.tokens.provider`. The
simulator lives in :mod:`orchestrator.tiktok.simulator` and is not imported here, so the
application's import of the clients never pulls in uvicorn.
"""

from __future__ import annotations

from orchestrator.tiktok.business import BusinessClient
from orchestrator.tiktok.client import (
    ClientToken,
    TikTokClient,
    TokenPair,
    token_fingerprint,
)
from orchestrator.tiktok.errors import (
    CredentialsRejected,
    GrantLost,
    RequestRejected,
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
    "RequestRejected",
    "TikTokApiError",
    "TikTokClient",
    "TikTokThrottled",
    "TikTokUnavailable",
    "TokenAlreadyDead",
    "TokenPair",
    "token_fingerprint",
]
