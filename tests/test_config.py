"""Config: YAML file, environment overrides, secret files, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_settings, masked_dump
from orchestrator.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)


def test_defaults_need_no_server(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": tmp_path})
    assert settings.broker_url == "embedded"
    assert settings.store_url == f"sqlite:///{(tmp_path / 'orchestrator.sqlite').resolve()}"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("broker_url: redis://127.0.0.1:6379/0\nport: 9000\n")
    monkeypatch.setenv("ORCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    monkeypatch.setenv("ORCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    settings = load_settings(config)
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.port == 9000
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1/test"


def test_config_file_named_by_orch_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("port: 9123\n")
    monkeypatch.setenv("ORCH_CONFIG", str(config))
    assert load_settings().port == 9123


def test_nested_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_SOURCES__SPLUNK__DEFAULT_SEVERITY", "high")
    assert load_settings().sources["splunk"].default_severity == "high"


def test_secret_read_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file-123456\n")
    monkeypatch.setenv("ORCH_INTAKE_TOKEN_FILE", str(secret))
    settings = load_settings()
    assert settings.intake_token is not None
    assert settings.intake_token.get_secret_value() == "from-a-file-123456"


def test_invalid_value_names_key_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"port \(ORCH_PORT\)"):
        load_settings()


def test_bad_broker_scheme_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_BROKER_URL", "kafka://x")
    with pytest.raises(ConfigError, match=r"broker_url \(ORCH_BROKER_URL\): .*redis://"):
        load_settings()


def test_unknown_file_key_suggests_the_right_one(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("databse_url: sqlite:///x\n")
    with pytest.raises(ConfigError, match=r"unknown key 'databse_url'; did you mean 'database_url'"):
        load_settings(config)


def test_invalid_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("port: 8080\nhost: [unclosed\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3:1: invalid YAML"):
        load_settings(config)


def test_show_masks_every_secret(tmp_path: Path) -> None:
    settings = load_settings(
        overrides={
            "intake_token": "planted-intake-secret",
            "api_token": "planted-api-secret",
            "database_url": "postgresql://user:planted-db-password@db/x",
        }
    )
    shown = repr(masked_dump(settings))
    for secret in ("planted-intake-secret", "planted-api-secret", "planted-db-password"):
        assert secret not in shown
    assert masked_dump(settings)["intake_token"] == "********"
