"""Several TikTok apps in the configuration: errors name the app and the key; secrets stay masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator import redaction
from orchestrator.config import load_settings, masked_dump
from orchestrator.errors import ConfigError

SHOP = {"name": "shop", "kind": "login_kit", "client_key": "shop-key", "client_secret": "shop-secret-1234"}
ADS = {"name": "ads", "kind": "business", "client_key": "ads-key", "client_secret": "ads-secret-5678"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("ORCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))


def _apps(monkeypatch: pytest.MonkeyPatch, *apps: dict[str, Any]) -> None:
    monkeypatch.setenv("ORCH_TIKTOK_APPS", json.dumps(list(apps)))


def test_the_single_app_settings_define_the_app_named_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TIKTOK_CLIENT_KEY", "old-key")
    monkeypatch.setenv("ORCH_TIKTOK_CLIENT_SECRET", "old-secret-9999")
    monkeypatch.setenv("ORCH_TIKTOK_PROVIDER", "business")
    monkeypatch.setenv("ORCH_TIKTOK_REVOKE_RATE", "3")
    _apps(monkeypatch, SHOP)
    settings = load_settings()
    assert settings.app_names == ["default", "shop"]
    default, shop = settings.apps
    assert (default.kind, default.client_key, default.revoke_rate) == ("business", "old-key", 3.0)
    assert default.client_secret is not None and default.client_secret.get_secret_value() == "old-secret-9999"
    assert (shop.kind, shop.api_base, shop.revoke_rate) == ("login_kit", "https://open.tiktokapis.com", 10.0)


def test_without_any_app_configured_there_is_the_default_app_only() -> None:
    assert load_settings().app_names == ["default"]


def test_listed_apps_alone_define_no_default_app(monkeypatch: pytest.MonkeyPatch) -> None:
    _apps(monkeypatch, SHOP, ADS)
    settings = load_settings()
    assert settings.app_names == ["shop", "ads"]
    assert settings.apps[1].api_base == "https://business-api.tiktok.com"


def test_apps_from_yaml_with_a_secret_file_are_masked_and_registered(tmp_path: Path) -> None:
    secret_file = tmp_path / "ads.secret"
    secret_file.write_text("ads-secret-from-file-4242\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        "tiktok_apps:\n"
        "  - {name: shop, kind: login_kit, client_key: shop-key, client_secret: shop-secret-1234,\n"
        "     token_inventory: 'postgresql://app:inv-pass-777@db/app', revoke_rate: 5}\n"
        f"  - {{name: ads, kind: business, client_key: ads-key, client_secret_file: '{secret_file}'}}\n"
    )
    settings = load_settings(config)
    ads = settings.apps[1]
    assert (
        ads.client_secret is not None and ads.client_secret.get_secret_value() == "ads-secret-from-file-4242"
    )
    shown = json.dumps(masked_dump(settings))
    for secret in ("shop-secret-1234", "ads-secret-from-file-4242", "inv-pass-777"):
        assert secret not in shown
        assert secret not in redaction.redact_text(f"leaked {secret} here")
    assert masked_dump(settings)["tiktok_apps"][0]["client_secret"] == "********"
    assert "shop-secret-1234" not in repr(settings)


@pytest.mark.parametrize(
    ("apps", "message"),
    [
        (
            [SHOP, {**ADS, "kind": "marketing"}],
            "tiktok_apps[1] 'ads': kind must be login_kit or business",
        ),
        (
            [SHOP, {**ADS, "client_secret": None}],
            "tiktok_apps[1] 'ads': client_secret (or client_secret_file)",
        ),
        ([{**SHOP, "client_key": ""}], "tiktok_apps[0] 'shop': client_key is required"),
        ([{k: v for k, v in SHOP.items() if k != "kind"}], "tiktok_apps[0] 'shop': kind is required"),
        ([SHOP, {**ADS, "name": "shop"}], "tiktok_apps[1] 'shop': name is already the name of another app"),
        (
            [SHOP, {**ADS, "client_key": "shop-key"}],
            "tiktok_apps[1] 'ads': client_key is already the client key of app 'shop'",
        ),
        ([{**SHOP, "revoke_rate": -1}], "tiktok_apps[0] 'shop': revoke_rate input should be greater"),
        ([{**SHOP, "secret": "x"}], "tiktok_apps[0] 'shop': secret is not a setting of an app"),
        ([{**SHOP, "name": "Shop Main"}], "tiktok_apps[0] 'Shop Main': name must be 1 to 64 of a-z"),
        (
            [{**SHOP, "client_secret_file": "/nonexistent/s"}],
            "tiktok_apps[0] 'shop': set either client_secret",
        ),
    ],
    ids=[
        "kind",
        "secret",
        "key",
        "no-kind",
        "dup-name",
        "dup-key",
        "rate",
        "unknown-key",
        "bad-name",
        "both",
    ],
)
def test_a_misconfigured_app_is_named_with_its_key(
    monkeypatch: pytest.MonkeyPatch, apps: list[dict[str, Any]], message: str
) -> None:
    _apps(monkeypatch, *apps)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert message in str(raised.value).replace("Input should", "input should")
    for app in apps:
        secret = app.get("client_secret")
        assert not secret or secret not in str(raised.value)


def test_a_secret_file_that_is_empty_or_missing_names_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    app = {k: v for k, v in ADS.items() if k != "client_secret"}
    _apps(monkeypatch, {**app, "client_secret_file": str(empty)})
    with pytest.raises(ConfigError, match=r"tiktok_apps\[0\] 'ads': client_secret_file .* is empty"):
        load_settings()
    _apps(monkeypatch, {**app, "client_secret_file": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match=r"tiktok_apps\[0\] 'ads': client_secret_file cannot be read"):
        load_settings()


def test_a_listed_app_may_not_clash_with_the_default_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TIKTOK_CLIENT_KEY", "shop-key")
    _apps(monkeypatch, SHOP)
    with pytest.raises(ConfigError, match=r"tiktok_apps\[0\] 'shop': client_key is already .* app 'default'"):
        load_settings()
    monkeypatch.setenv("ORCH_TIKTOK_CLIENT_KEY", "other-key")
    _apps(monkeypatch, {**SHOP, "name": "default"})
    with pytest.raises(
        ConfigError, match=r"tiktok_apps\[0\] 'default': name 'default' is the app of the single"
    ):
        load_settings()


def test_a_process_refuses_to_start_with_a_misconfigured_app(monkeypatch: pytest.MonkeyPatch) -> None:
    _apps(monkeypatch, SHOP, {**ADS, "kind": "ads_api"})
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "switch", "status"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "error: invalid config: tiktok_apps[1] 'ads': kind must be login_kit or business" in done.stderr
    assert "shop-secret-1234" not in done.stderr + done.stdout
