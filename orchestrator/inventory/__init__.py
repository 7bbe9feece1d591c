"""Token inventories: where the application keeps its TikTok tokens, streamed in batches."""

from __future__ import annotations

from orchestrator.inventory.factory import (
    close_inventory,
    inventory_from_settings,
    open_inventory,
    opened_inventory,
)
from orchestrator.inventory.jsonl import JsonLinesInventory
from orchestrator.inventory.sql import SqlInventory
from orchestrator.tokens.fingerprint import fingerprint
from orchestrator.tokens.inventory import (
    DEFAULT_BATCH_SIZE,
    InventoryError,
    Scope,
    TokenInventory,
    TokenRecord,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "InventoryError",
    "JsonLinesInventory",
    "Scope",
    "SqlInventory",
    "TokenInventory",
    "TokenRecord",
    "close_inventory",
    "fingerprint",
    "inventory_from_settings",
    "open_inventory",
    "opened_inventory",
]
