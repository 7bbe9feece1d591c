"""The configured revocation provider: TikTok OAuth v2 (default) or the Marketing API."""

from __future__ import annotations

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.tiktok.business import BusinessClient
from orchestrator.tiktok.client import TikTokClient

__all__ = ["provider_from_settings"]


def provider_from_settings(settings: Settings) -> TikTokClient | BusinessClient:
    """A client with the app's credentials; ConfigError naming the missing variable."""
    if not settings.tiktok_client_key:
        raise ConfigError("tiktok_client_key (ORCH_TIKTOK_CLIENT_KEY) is not set: cannot revoke tokens")
    if settings.tiktok_client_secret is None:
        raise ConfigError("tiktok_client_secret (ORCH_TIKTOK_CLIENT_SECRET) is not set: cannot revoke tokens")
    secret = settings.tiktok_client_secret.get_secret_value()
    if settings.tiktok_provider == "business":
        return BusinessClient(settings.tiktok_api_base, settings.tiktok_client_key, secret)
    return TikTokClient(settings.tiktok_api_base, settings.tiktok_client_key, secret)
