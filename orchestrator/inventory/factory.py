"""Open the token inventory that ``ORCH_TOKEN_INVENTORY`` names: a SQL URL, a file, or a plugin."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.inventory.jsonl import JsonLinesInventory
from orchestrator.inventory.plugin import load_plugin
from orchestrator.inventory.sql import SqlInventory
from orchestrator.settings_apps import DEFAULT_APP, TikTokApp
from orchestrator.tokens.inventory import TokenInventory

__all__ = [
    "close_inventory",
    "inventory_for",
    "inventory_from_settings",
    "open_inventory",
    "opened_inventories",
    "opened_inventory",
]

_SQL_SCHEMES = ("sqlite:", "postgresql:", "postgresql+", "postgres:")


def open_inventory(spec: str, *, columns: Mapping[str, str | None] | None = None) -> TokenInventory:
    """``sqlite:///…``/``postgresql://…`` -> SQL table; ``*.jsonl``/``*.json`` -> file; ``plugin:NAME``."""
    value = spec.strip()
    if value.startswith(_SQL_SCHEMES):
        return SqlInventory(value, columns=columns)
    if value.startswith("plugin:"):
        return load_plugin(value.removeprefix("plugin:"))
    if value.lower().endswith((".jsonl", ".json")):
        return JsonLinesInventory(value.removeprefix("file://"))
    raise ConfigError(
        "token_inventory (ORCH_TOKEN_INVENTORY): expected a sqlite:// or postgresql:// URL,"
        " a path ending .jsonl or .json, or plugin:NAME"
    )


def inventory_for(app: TikTokApp, settings: Settings) -> TokenInventory:
    """``app``'s inventory; ConfigError naming the app when it has none."""
    if not app.token_inventory:
        where = (
            "token_inventory (ORCH_TOKEN_INVENTORY)"
            if app.name == DEFAULT_APP
            else f"tiktok_apps '{app.name}': token_inventory"
        )
        raise ConfigError(f"{where} is not set: where are the tokens kept?")
    return open_inventory(app.token_inventory, columns=settings.token_inventory_columns)


def inventory_from_settings(settings: Settings) -> TokenInventory:
    """The first configured app's inventory (the app ``default`` with the single-app settings)."""
    return inventory_for(settings.apps[0], settings)


def close_inventory(inventory: TokenInventory) -> None:
    """Release the adapter's connections, if it holds any (``close`` is optional for plugins)."""
    close = getattr(inventory, "close", None)
    if callable(close):
        close()


@contextmanager
def opened_inventory(settings: Settings) -> Iterator[TokenInventory]:
    """The configured inventory for the length of a ``with`` block, closed afterwards."""
    inventory = inventory_from_settings(settings)
    try:
        yield inventory
    finally:
        close_inventory(inventory)


@contextmanager
def opened_inventories(settings: Settings, apps: Iterable[str]) -> Iterator[dict[str, TokenInventory]]:
    """The inventories of the apps named (name -> inventory) for the length of a ``with`` block,
    each closed afterwards; ConfigError names an app that is unknown or has none."""
    with ExitStack() as opened:
        inventories: dict[str, TokenInventory] = {}
        for name in apps:
            inventories[name] = inventory_for(settings.app(name), settings)
            opened.callback(close_inventory, inventories[name])
        yield inventories
