"""A TikTok app's revocation provider: TikTok OAuth v2 (Login Kit) or the Marketing API (Business)."""

from __future__ import annotations

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.tiktok.business import BusinessClient
from orchestrator.tiktok.client import TikTokClient

__all__ = ["provider_for", "provider_from_settings"]


def provider_for(app: TikTokApp) -> TikTokClient | BusinessClient:
    """A client with ``app``'s own credentials; ConfigError naming the app and the missing key."""
    default = app.name == DEFAULT_APP
    if not app.client_key:
        where = (
            "tiktok_client_key (ORCH_TIKTOK_CLIENT_KEY)"
            if default
            else f"tiktok_apps '{app.name}': client_key"
        )
        raise ConfigError(f"{where} is not set: cannot revoke tokens")
    if app.client_secret is None:
        where = (
            "tiktok_client_secret (ORCH_TIKTOK_CLIENT_SECRET)"
            if default
            else f"tiktok_apps '{app.name}': client_secret"
        )
        raise ConfigError(f"{where} is not set: cannot revoke tokens")
    secret = app.client_secret.get_secret_value()
    if app.kind == "business":
        return BusinessClient(app.api_base, app.client_key, secret)
    return TikTokClient(app.api_base, app.client_key, secret)


def provider_from_settings(settings: Settings) -> TikTokClient | BusinessClient:
    """The first configured app's client (the app ``default`` when the single-app settings are set)."""
    return provider_for(settings.apps[0])
