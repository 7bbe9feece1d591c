"""Settings: one YAML file plus ``ORCH_*`` environment overrides, validated once.

Precedence, highest first: explicit overrides (CLI flags), ``ORCH_<KEY>`` environment
variables, ``ORCH_<KEY>_FILE`` (a file holding a secret, as Docker and Kubernetes
mount them), then the YAML file named by ``--config`` or ``ORCH_CONFIG``. Nested keys
use ``__`` in the environment (``ORCH_SOURCES__SPLUNK__DEFAULT_SEVERITY``). Secrets are
``SecretStr`` and are registered with the redactor the moment they are loaded.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from orchestrator import redaction
from orchestrator.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "load_settings", "masked_dump"]

ENV_PREFIX = "ORCH_"
_BROKER_SCHEMES = ("embedded", "redis://", "rediss://", "amqp://", "amqps://", "memory://")
_STORE_SCHEMES = ("sqlite", "postgresql")


class SourceSettings(BaseModel):
    """Per-source intake settings (authentication, default severity, body limit)."""

    model_config = ConfigDict(extra="forbid")

    default_severity: str = "medium"
    max_body_bytes: int | None = None
    auth: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None


class Settings(BaseSettings):
    """Every setting of the orchestrator; each is also ``ORCH_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(Path(".orchestrator"), description="Where the embedded store and broker live.")
    database_url: str = Field("", description="SQLAlchemy URL of the store; default: SQLite in data_dir.")
    broker_url: str = Field("embedded", description="redis://, amqp:// or 'embedded' (no server).")
    intake_token: SecretStr | None = Field(None, description="Bearer token that may only post events.")
    api_token: SecretStr | None = Field(None, description="Operators' bearer token for every /v1/ endpoint.")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    log_level: str = "info"
    log_format: str = Field("auto", description="auto (JSON unless a terminal), json or console.")
    correlation_window_seconds: int = Field(3600, ge=1)
    redeliver_after_seconds: float = Field(30.0, gt=0, description="Re-enqueue unfinished work after.")
    relay_interval_seconds: float = Field(0.5, gt=0)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    worker_concurrency: int = Field(8, ge=1, le=256)
    playbook_dirs: list[Path] = Field(default_factory=list)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        if not value.startswith(_BROKER_SCHEMES):
            raise ValueError(f"must be 'embedded' or start with one of {', '.join(_BROKER_SCHEMES[1:])}")
        return value

    @field_validator("database_url")
    @classmethod
    def _store_scheme(cls, value: str) -> str:
        if value and not value.startswith(_STORE_SCHEMES):
            raise ValueError("must be a sqlite:/// or postgresql:// SQLAlchemy URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("auto", "json", "console"):
            raise ValueError("must be auto, json or console")
        return value

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to a SQLite file inside ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'orchestrator.sqlite').resolve()}"

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url == "embedded"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def _secret_fields() -> list[str]:
    return [
        name
        for name, field in Settings.model_fields.items()
        if field.annotation in (SecretStr, SecretStr | None)
    ]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values")
    known = set(Settings.model_fields)
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{path}: unknown key '{key}'{hint}")
    return data


def _file_secrets(environ: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in _secret_fields():
        env_name = f"{ENV_PREFIX}{name.upper()}_FILE"
        if env_name in environ and f"{ENV_PREFIX}{name.upper()}" not in environ:
            try:
                found[name] = Path(environ[env_name]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{env_name}: cannot read the secret file: {exc.strerror}") from exc
    return found


def _describe(error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    env = ENV_PREFIX + "__".join(loc).upper()
    return f"{key} ({env}): {error['msg']}"


def load_settings(
    config_path: str | Path | None = None, *, overrides: dict[str, Any] | None = None
) -> Settings:
    """Load, merge and validate settings; raise ConfigError naming the key on any problem."""
    environ = dict(os.environ)
    path = config_path or environ.get(f"{ENV_PREFIX}CONFIG")
    from_file = _read_yaml(Path(path)) if path else {}
    # Environment variables beat the file: drop file keys the environment sets.
    for key in list(from_file):
        if f"{ENV_PREFIX}{key.upper()}" in environ:
            del from_file[key]
    init = {**from_file, **_file_secrets(environ), **(overrides or {})}
    try:
        settings = Settings(**init)
    except ValidationError as exc:
        raise ConfigError("invalid config: " + "; ".join(_describe(e) for e in exc.errors())) from exc
    for name in _secret_fields():
        secret = getattr(settings, name)
        if secret is not None:
            redaction.register_secret(secret.get_secret_value())
    return settings


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, every secret shown as ``********``."""
    data = settings.model_dump(mode="json")
    for name in _secret_fields():
        if data.get(name) is not None:
            data[name] = "********"
    data["store_url"] = _mask_url_password(settings.store_url)
    data["database_url"] = _mask_url_password(settings.database_url)
    data["broker_url"] = _mask_url_password(settings.broker_url)
    return data


def _mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":********@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
