"""Settings: one YAML file plus ``ORCH_*`` environment overrides, validated once.

Precedence, highest first: explicit overrides (CLI flags), ``ORCH_<KEY>`` environment
variables or ``ORCH_<KEY>_FILE`` (a file holding a secret, as Docker and Kubernetes mount
them; never both, and never empty), then the YAML file named by ``--config`` or
``ORCH_CONFIG``. A value that cannot be read is a ``ConfigError`` naming it. Nested keys
use ``__`` in the environment (``ORCH_SOURCES__SPLUNK__DEFAULT_SEVERITY``). Secrets are
``SecretStr`` and are registered with the redactor the moment they are loaded, with every
other secret the settings hold (``settings_secrets``: URL passwords, sources' credentials).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from orchestrator import redaction, settings_secrets
from orchestrator.durations import parse_duration
from orchestrator.errors import ConfigError
from orchestrator.settings_apps import TikTokAppsSettings
from orchestrator.settings_paging import PagingSettings
from orchestrator.store.outbox import redelivery_window  # the relay owns the backoff

__all__ = ["ENV_PREFIX", "Settings", "engine_url", "load_settings", "masked_dump"]

ENV_PREFIX = "ORCH_"
_BROKER_SCHEMES = ("embedded", "redis://", "rediss://", "amqp://", "amqps://", "memory://")
_STORE_SCHEMES = ("sqlite", "postgresql")
# Grouped sources: a 10,000-alert Alertmanager or Grafana group is several MB.
_SOURCE_BODY_DEFAULTS = {"alertmanager": 16 * 1024 * 1024, "grafana": 16 * 1024 * 1024}


def engine_url(url: str) -> str:
    """SQLAlchemy URL with the installed PostgreSQL driver (psycopg 3) chosen: the store's, a SQL
    inventory's and the ``purge_records`` databases' URLs."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def _default_inventory_columns() -> dict[str, str | None]:
    return {
        "table": "tiktok_tokens",
        "open_id": "open_id",
        "access_token": "access_token",
        "refresh_token": "refresh_token",
        "expires_at": "expires_at",
        "labels": "labels",
    }


class SourceSettings(BaseModel):
    """Per-source intake settings (authentication, defaults, body limit, opt-in rate limit)."""

    model_config = ConfigDict(extra="forbid")

    default_severity: str = "medium"
    default_kind: str = "security.alert"
    max_body_bytes: int | None = Field(None, ge=1024)
    max_events: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="Events (alerts, findings) one delivery may carry; more: 413. Each costs ~7 KB.",
    )
    rate_limit_per_minute: int | None = Field(
        None, ge=1, description="Opt-in 429 limit; only for tools that retry a 429 (PagerDuty, AWS, Azure)."
    )
    auth: dict[str, Any] | None = None
    mapping: dict[str, Any] | None = None


class DrillSettings(BaseModel):
    """``drill.*``: the rehearsal's size, SLOs (default: the compliance targets) and schedule."""

    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(None, description="Run a drill this often, e.g. '7d' or '24h' (scheduler).")
    tokens: int = Field(1000, ge=1, le=10_000_000, description="Tokens a drill seeds in its own inventory.")
    slo_disconnect_seconds: float | None = Field(None, gt=0, description="Awareness to switch engaged.")
    slo_revoke_seconds: float = Field(3600.0, gt=0, description="Awareness to revocation done.")
    slo_report_seconds: float | None = Field(None, gt=0, description="Awareness to report delivered.")
    env: dict[str, str] = Field(default_factory=dict, description="ORCH_* settings of the drill's own stage.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < 60:
            raise ValueError("a drill schedule is at least a minute, e.g. '7d' or '24h'")
        return value


class Settings(BaseSettings, TikTokAppsSettings):
    """Every setting of the orchestrator; each is also ``ORCH_<NAME>`` in the environment (the TikTok
    apps' settings are ``settings_apps.TikTokAppsSettings``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(Path(".orchestrator"), description="Where the embedded store and broker live.")
    database_url: str = Field("", description="SQLAlchemy URL of the store; default: SQLite in data_dir.")
    database_pool_size: int = Field(
        10, ge=1, le=1000, description="PostgreSQL connections each process keeps open at most when idle."
    )
    database_max_overflow: int = Field(
        20, ge=0, le=1000, description="Connections a process may open beyond the pool under load."
    )
    broker_url: str = Field("embedded", description="redis://, amqp:// or 'embedded' (no server).")
    intake_token: SecretStr | None = Field(None, description="Bearer token that may only post events.")
    api_token: SecretStr | None = Field(None, description="Operators' bearer token for every /v1/ endpoint.")
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that may only scrape /metrics (the API token may too)."
    )
    guard_token: SecretStr | None = Field(
        None, description="Bearer token that may only read GET /v1/switch (the application's guard)."
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    api_processes: int = Field(
        1, ge=1, le=64, description="API processes sharing the port; one per core the API has to itself."
    )
    log_level: str = "info"
    log_format: str = Field("auto", description="auto (JSON unless a terminal), json or console.")
    correlation_window_seconds: int = Field(3600, ge=1)
    redeliver_after_seconds: float = Field(30.0, gt=0, description="Re-enqueue unfinished work after.")
    relay_interval_seconds: float = Field(0.5, gt=0)
    outbox_max_attempts: int = Field(
        10, ge=2, le=1000, description="Sends of a failing outbox row before it is dead-lettered."
    )
    retention_days: float = Field(
        90.0, gt=0, description="Done work, raw event bodies and settled ledger rows are deleted after."
    )
    retention_batch_size: int = Field(
        1000, ge=1, le=100_000, description="Rows one retention transaction deletes at most."
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    worker_concurrency: int = Field(8, ge=1, le=256)
    up_revocation_workers: int = Field(
        1, ge=0, le=16, description="Worker processes `up` starts for the revocation queue alone (0: none)."
    )
    worker_drain_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="On SIGTERM a worker finishes or hands back its work within this, then is killed.",
    )
    revocation_concurrency: int = Field(
        16, ge=1, le=256, description="Revoke requests in flight per batch task."
    )
    drill: DrillSettings = Field(default_factory=lambda: DrillSettings())
    paging: PagingSettings = Field(default_factory=lambda: PagingSettings())
    revocation_batch_size: int = Field(
        500, ge=1, le=10000, description="Tokens per batch on the revocation queue."
    )
    playbook_dirs: list[Path] = Field(default_factory=list, description="Extra playbook folders.")
    shipped_playbooks: bool = Field(
        True, description="Load the playbooks shipped inside the package (tiktok-compromise and others)."
    )
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    tiktok_userinfo_rate: float = Field(
        10.0, ge=0, description="User-info probes per second across all workers (TikTok: 600/min)."
    )
    verify_sample_percent: float = Field(
        1.0, gt=0, le=100, description="Share of revoked tokens probed after a revocation."
    )
    verify_min_sample: int = Field(10, ge=0, description="Probe at least this many revoked tokens.")
    verify_max_sample: int = Field(200, ge=1, description="Probe at most this many revoked tokens.")
    token_inventory_columns: dict[str, str | None] = Field(
        default_factory=_default_inventory_columns,
        description="SQL inventory: table and column names (null = no such column); see docs/inventory.md.",
    )
    purge_records: list[dict[str, str]] = Field(
        default_factory=list,
        description="TikTok-derived tables to purge: {table, url?, where?, open_id_column?}.",
    )
    guard_fail_closed: bool = Field(True, description="The guard treats an unknown switch state as engaged.")
    guard_cache_seconds: float = Field(1.0, ge=0, description="How long the guard trusts a switch reading.")
    guard_file_max_age_seconds: float = Field(
        60.0,
        gt=0,
        allow_inf_nan=False,
        description="The guard ignores a kill-switch file older than this (by its modification time).",
    )
    compliance_disconnect_target_minutes: int = Field(
        60, ge=1, description="Clause III.2(f) 'immediately': awareness to disconnect, in minutes."
    )
    compliance_report_target_minutes: int = Field(
        1440, ge=1, description="Clause III.2(f) 'immediately': awareness to report to TikTok, in minutes."
    )

    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...); no token, no Slack.")
    slack_signing_secret: SecretStr | None = Field(None, description="Verifies Slack's signed HTTP requests.")
    slack_app_token: SecretStr | None = Field(None, description="App-level token (xapp-...) for Socket Mode.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    slack_channel_pattern: str = Field(
        "ir-{date}-{title}", description="Incident channel name: {date}, {title}, {incident_id}."
    )
    slack_oncall_usergroup: str | None = Field(None, description="User group (S...) invited to rooms.")
    slack_invite_users: list[str] = Field(default_factory=list, description="Users (U...) invited to rooms.")
    slack_announcements_channel: str | None = Field(
        None, description="Channel (C...) where /ir update posts stakeholder updates, besides the room."
    )
    slack_admins: list[str] = Field(
        default_factory=list, description="User (U...) or user-group (S...) ids for restricted /ir commands."
    )
    slack_playbooks_allowed: list[str] = Field(
        default_factory=lambda: ["*"], description="Playbooks '/ir run' may start; ['*'] = every manual one."
    )
    slack_card_min_interval_seconds: float = Field(5.0, ge=0, description="At most one card update per this.")
    smtp_url: SecretStr | None = Field(None, description="smtp://host:port or smtps://user:pass@host:465.")
    smtp_from: str = Field("orchestrator@localhost", description="Sender address of every email.")
    smtp_starttls: bool = Field(False, description="Upgrade smtp:// connections with STARTTLS.")
    tiktok_report_to: str | None = Field(None, description="Where the report to TikTok is emailed.")
    tiktok_report_http_url: str | None = Field(None, description="Optional URL the report is POSTed to.")
    report_contact: str | None = Field(None, description="Contact named in the report to TikTok.")
    report_template: Path | None = Field(None, description="Jinja2 template replacing the shipped report.")
    evidence_key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM) signing evidence; default: made in data_dir."
    )

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
        return engine_url(value)

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

    def source(self, name: str) -> SourceSettings:
        """One source's settings, configured or default, with its body limit resolved."""
        configured = self.sources.get(name) or SourceSettings()
        if configured.max_body_bytes is not None:
            return configured
        limit = max(_SOURCE_BODY_DEFAULTS.get(name, 0), self.max_body_bytes)
        return configured.model_copy(update={"max_body_bytes": limit})

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
    """Secrets from ``ORCH_<KEY>_FILE``. An empty file is an error: an operator whose secret
    store mounted nothing must hear so, not run with a generated token; a secret given both as
    a variable and as a file is an error too, since either could be the stale one."""
    found: dict[str, str] = {}
    for name in _secret_fields():
        variable = f"{ENV_PREFIX}{name.upper()}"
        env_name = f"{variable}_FILE"
        if env_name not in environ:
            continue
        if variable in environ:
            raise ConfigError(f"{name}: set either {variable} or {env_name}, not both")
        try:
            found[name] = Path(environ[env_name]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name} ({env_name}): cannot read the secret file: {exc.strerror}") from exc
        if not found[name]:
            raise ConfigError(f"{name} ({env_name}): the secret file {environ[env_name]} is empty")
    return found


def _unparsable(exc: SettingsError) -> ConfigError:
    """pydantic-settings' own message names neither the variable nor the problem."""
    field = re.search(r'field "([^"]+)"', str(exc))
    name = field.group(1) if field else "a setting"
    cause = f": {exc.__cause__}" if isinstance(exc.__cause__, ValueError) else ""
    return ConfigError(
        f"invalid config: {name} ({ENV_PREFIX}{name.upper()}): not valid JSON "
        f"(lists and maps are given as JSON){cause}"
    )


def _describe(error: Any) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    env = ENV_PREFIX + "__".join(loc).upper()
    return f"{key} ({env}): {error['msg']}"


def _check_retention(settings: Settings) -> None:
    """Retention shorter than the outbox's redelivery window would delete a row's history while
    the relay may still be sending it: refused, naming the floor."""
    floor = redelivery_window(settings.redeliver_after_seconds, settings.outbox_max_attempts)
    if settings.retention_days * 86400 < floor:
        raise ConfigError(
            f"invalid config: retention_days ({ENV_PREFIX}RETENTION_DAYS): {settings.retention_days:g} days "
            f"is less than the outbox's redelivery window ({floor / 86400:.4g} days: "
            "redeliver_after_seconds and outbox_max_attempts)"
        )


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
    except SettingsError as exc:
        raise _unparsable(exc) from exc
    _check_retention(settings)
    for secret in settings_secrets.scrub(settings, frozenset(_secret_fields())).secrets:
        redaction.register_secret(secret)
    return settings


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, every secret (URL passwords, sources' credentials
    and the drill's secret settings included) shown as ``********``."""
    scrubbed = settings_secrets.scrub(settings, frozenset(_secret_fields()))
    data: dict[str, Any] = to_jsonable_python(scrubbed.masked)
    data["store_url"] = settings_secrets.scrub_url(settings.store_url)
    if data.get("evidence_key_file") is not None:  # where a private key is mounted is not shown
        data["evidence_key_file"] = "********"
    return data
