"""The TikTok apps: the single-app settings (the app ``default``) and ``tiktok_apps``.

An organisation runs several TikTok apps (a Login Kit app, a Marketing API app, one per brand),
each with its own client key, secret, token store and rate limit (TikTok counts limits per
client key). ``tiktok_apps`` lists them (YAML, or ``ORCH_TIKTOK_APPS`` as JSON). The single-app
settings of old (``ORCH_TIKTOK_CLIENT_KEY`` ...) define the app named ``default``: it exists
when its client key is set or no app is listed. Every error names the app and the key
(``tiktok_apps[1] 'ads': kind must be login_kit or business``) and stops the process at start.
Secrets are ``SecretStr`` from the moment they load, a ``client_secret_file`` read at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator.errors import ConfigError

__all__ = ["APP_KINDS", "DEFAULT_APP", "TikTokApp", "TikTokAppsSettings"]

DEFAULT_APP: Final = "default"
APP_KINDS: Final = ("login_kit", "business")
_API_BASES: Final = {
    "login_kit": "https://open.tiktokapis.com",
    "business": "https://business-api.tiktok.com",
}
_WHERE: Final = "(ORCH_TIKTOK_APPS)"


class TikTokApp(BaseModel):
    """One TikTok app: credentials, API, token store and revoke rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kind: str
    client_key: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    api_base: str = Field("", pattern=r"^(https?://\S+)?$")
    token_inventory: str | None = None
    revoke_rate: float = Field(10.0, ge=0)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in APP_KINDS:
            raise ValueError("must be login_kit or business")
        return value

    @model_validator(mode="after")
    def _api_base(self) -> TikTokApp:
        if not self.api_base:
            object.__setattr__(self, "api_base", _API_BASES[self.kind])
        return self


def _phrase(error: Any) -> str:
    """One pydantic error as ``key problem``."""
    key = ".".join(str(part) for part in error["loc"]) or "the app"
    if error["type"] == "missing":
        return f"{key} is required"
    if error["type"] == "extra_forbidden":
        return f"{key} is not a setting of an app (name, kind, client_key, client_secret, ...)"
    if error["type"] == "string_pattern_mismatch" and key == "name":
        return "name must be 1 to 64 of a-z, 0-9, '-' and '_'"
    return f"{key} {str(error['msg']).removeprefix('Value error, ')}"


def _secret_from_file(data: dict[str, Any], where: str) -> dict[str, Any]:
    path = data.get("client_secret_file")
    if path is None:
        return data
    if data.get("client_secret") is not None:
        raise ConfigError(f"{where}: set either client_secret or client_secret_file, not both")
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: client_secret_file cannot be read: {exc.strerror}") from exc
    if not secret:
        raise ConfigError(f"{where}: client_secret_file {path} is empty")
    return {**data, "client_secret": secret}


def parse_apps(value: Any) -> list[TikTokApp]:
    """``tiktok_apps`` checked app by app; ConfigError naming the app and the key."""
    if not isinstance(value, list):
        raise ConfigError(f"invalid config: tiktok_apps {_WHERE}: must be a list of apps")
    apps: list[TikTokApp] = []
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        where = f"invalid config: tiktok_apps[{index}]" + (f" '{name}'" if isinstance(name, str) else "")
        if isinstance(item, TikTokApp):
            app = item
        elif not isinstance(item, dict):
            raise ConfigError(f"{where} {_WHERE}: must be a mapping (name, kind, client_key, ...)")
        else:
            try:
                app = TikTokApp.model_validate(_secret_from_file(item, where))
            except ValidationError as exc:
                raise ConfigError(f"{where}: " + "; ".join(_phrase(e) for e in exc.errors())) from exc
        if not app.client_key:
            raise ConfigError(f"{where}: client_key is required")
        if app.client_secret is None or not app.client_secret.get_secret_value():
            raise ConfigError(f"{where}: client_secret (or client_secret_file) is required")
        for other in apps:
            if other.name == app.name:
                raise ConfigError(f"{where}: name is already the name of another app")
            if other.client_key == app.client_key:
                raise ConfigError(f"{where}: client_key is already the client key of app '{other.name}'")
        apps.append(app)
    return apps


class TikTokAppsSettings(BaseModel):
    """The TikTok part of ``Settings``: the single-app settings (the app ``default``) and the list."""

    tiktok_provider: str = Field(
        "oauth",
        pattern="^(oauth|business)$",
        description="oauth (v2 user tokens) or business (Marketing API).",
    )
    tiktok_api_base: str = Field("https://open.tiktokapis.com", description="TikTok OAuth v2 base URL.")
    tiktok_client_key: str | None = Field(None, description="The app's TikTok client key.")
    tiktok_client_secret: SecretStr | None = Field(None, description="The app's TikTok client secret.")
    tiktok_revoke_rate: float = Field(
        10.0, ge=0, description="Revoke requests per second across all workers; 0 = no client-side limit."
    )
    token_inventory: str | None = Field(
        None, description="Where the app keeps its tokens: a SQL URL, a .jsonl path or plugin:NAME."
    )
    tiktok_apps: list[TikTokApp] = Field(
        default_factory=list,
        description="More TikTok apps: name, kind, client_key, client_secret(_file), api_base, ...",
    )

    @field_validator("tiktok_apps", mode="before")
    @classmethod
    def _apps(cls, value: Any) -> list[TikTokApp]:
        return parse_apps(value)

    @model_validator(mode="after")
    def _default_app_apart(self) -> TikTokAppsSettings:
        if not self.tiktok_client_key:
            return self
        for index, app in enumerate(self.tiktok_apps):
            where = f"invalid config: tiktok_apps[{index}] '{app.name}'"
            if app.name == DEFAULT_APP:
                raise ConfigError(
                    f"{where}: name 'default' is the app of the single-app settings "
                    "(ORCH_TIKTOK_CLIENT_KEY): name this one otherwise"
                )
            if app.client_key == self.tiktok_client_key:
                raise ConfigError(
                    f"{where}: client_key is already the client key of app 'default' (ORCH_TIKTOK_CLIENT_KEY)"
                )
        return self

    @property
    def apps(self) -> list[TikTokApp]:
        """Every app, ``default`` (the single-app settings) first when it exists."""
        if self.tiktok_apps and not self.tiktok_client_key:
            return list(self.tiktok_apps)
        default = TikTokApp(
            name=DEFAULT_APP,
            kind="business" if self.tiktok_provider == "business" else "login_kit",
            client_key=self.tiktok_client_key,
            client_secret=self.tiktok_client_secret,
            api_base=self.tiktok_api_base,
            token_inventory=self.token_inventory,
            revoke_rate=self.tiktok_revoke_rate,
        )
        return [default, *self.tiktok_apps]

    @property
    def app_names(self) -> list[str]:
        return [app.name for app in self.apps]

    def app(self, name: str) -> TikTokApp:
        """The app named ``name``; ConfigError when no such app is configured."""
        for app in self.apps:
            if app.name == name:
                return app
        raise ConfigError(
            f"no TikTok app named '{name}' is configured (tiktok_apps: {', '.join(self.app_names)})"
        )
