"""The worker's runtime fills the ports the domain asks for: each TikTok app's revocation
provider and token inventory, built once per process (one connection pool an app, not one a batch)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config import Settings, load_settings
from orchestrator.errors import ConfigError
from orchestrator.inventory import JsonLinesInventory
from orchestrator.tiktok import BusinessClient, TikTokClient
from orchestrator.tokens.provider import ProbingProvider
from orchestrator.worker.runtime import Runtime
from tests.support.runtime import make_runtime


@pytest.fixture
def two_apps(settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    (tmp_path / "shop.jsonl").write_text("")
    apps = [
        {"name": "shop", "kind": "login_kit", "client_key": "shop-key", "client_secret": "shop-secret-1234",
         "token_inventory": str(tmp_path / "shop.jsonl")},
        {"name": "ads", "kind": "business", "client_key": "ads-key", "client_secret": "ads-secret-5678"},
    ]  # fmt: skip
    runtime = make_runtime(load_settings(overrides={"data_dir": settings.data_dir, "tiktok_apps": apps}))
    yield runtime
    runtime.close()


def test_each_app_has_its_own_provider_and_inventory_built_once_per_process(two_apps: Runtime) -> None:
    shop, ads = two_apps.revocation_provider("shop"), two_apps.revocation_provider("ads")
    assert (type(shop), type(ads)) == (TikTokClient, BusinessClient)
    assert two_apps.revocation_provider("shop") is shop and two_apps.revocation_provider("ads") is ads
    inventory = two_apps.token_inventory("shop")
    assert isinstance(inventory, JsonLinesInventory) and two_apps.token_inventory("shop") is inventory


def test_only_the_oauth_client_can_prove_a_token_dead(two_apps: Runtime) -> None:
    """A claim left by a dead worker is settled by a probe only where TikTok has one (OAuth v2's
    user info); a Marketing API token's claim goes back to pending, never guessed dead."""
    probing = [isinstance(two_apps.revocation_provider(app), ProbingProvider) for app in ("shop", "ads")]
    assert probing == [True, False]


def test_an_app_without_an_inventory_is_named(two_apps: Runtime) -> None:
    with pytest.raises(ConfigError, match="tiktok_apps 'ads': token_inventory is not set"):
        two_apps.token_inventory("ads")
