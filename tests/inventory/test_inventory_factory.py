"""ORCH_TOKEN_INVENTORY picks the adapter: a SQL URL, a JSON-lines path, or an entry-point plugin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.pool import QueuePool

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.inventory import (
    InventoryError,
    JsonLinesInventory,
    Scope,
    SqlInventory,
    inventory_from_settings,
    open_inventory,
    opened_inventory,
)

PLUGIN_MODULE = """
from orchestrator.inventory import Scope, TokenRecord


class MemoryInventory:
    def __init__(self, n: str = "3") -> None:
        self.records = [TokenRecord(open_id=f"p{i}", access_token=f"act.{i}") for i in range(int(n))]

    def stream(self, scope, batch_size=500):
        chosen = [r for r in self.records if scope.is_all or scope.matches(r)]
        for i in range(0, len(chosen), batch_size):
            yield chosen[i : i + batch_size]

    def count(self, scope):
        return sum(len(b) for b in self.stream(scope))

    def delete(self, open_ids):
        before = len(self.records)
        self.records = [r for r in self.records if r.open_id not in set(open_ids)]
        return before - len(self.records)


def not_an_inventory():
    return object()
"""


@pytest.fixture
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real installed distribution (a dist-info on sys.path) declaring two entry points."""
    (tmp_path / "memory_tokens.py").write_text(PLUGIN_MODULE)
    dist = tmp_path / "memory_tokens-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memory-tokens\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[orchestrator.token_inventory]\n"
        "memory = memory_tokens:MemoryInventory\n"
        "broken = memory_tokens:not_an_inventory\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("memory_tokens", None)


def test_sql_urls_and_json_paths_choose_their_adapters(tmp_path: Path) -> None:
    assert isinstance(open_inventory(f"sqlite:///{tmp_path / 'a.sqlite'}"), SqlInventory)
    pg = open_inventory("postgresql://app@127.0.0.1/app")
    assert isinstance(pg, SqlInventory) and pg.url.startswith("postgresql+psycopg://")
    assert isinstance(open_inventory(str(tmp_path / "t.jsonl")), JsonLinesInventory)
    assert isinstance(open_inventory(str(tmp_path / "t.json")), JsonLinesInventory)


def test_anything_else_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="ORCH_TOKEN_INVENTORY"):
        open_inventory("mysql://nope")


@pytest.mark.usefixtures("plugin_installed")
def test_a_plugin_is_built_from_its_entry_point_with_query_options() -> None:
    inventory = open_inventory("plugin:memory?n=4")
    assert inventory.count(Scope.all()) == 4
    assert inventory.delete(["p0"]) == 1
    assert [r.open_id for b in inventory.stream(Scope.all(), batch_size=2) for r in b] == ["p1", "p2", "p3"]


@pytest.mark.usefixtures("plugin_installed")
def test_a_plugin_that_is_missing_or_wrong_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match=r"no token inventory plugin 'nope'.*installed: broken, memory"):
        open_inventory("plugin:nope")
    with pytest.raises(InventoryError, match="did not return a TokenInventory"):
        open_inventory("plugin:broken")


def test_settings_without_an_inventory_say_what_to_set(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ORCH_TOKEN_INVENTORY"):
        inventory_from_settings(settings)
    configured = settings.model_copy(
        update={
            "token_inventory": f"sqlite:///{tmp_path / 'x.sqlite'}",
            "token_inventory_columns": {"table": "grants"},
        }
    )
    inventory = inventory_from_settings(configured)
    assert isinstance(inventory, SqlInventory)
    assert (inventory.columns["table"], inventory.columns["open_id"]) == ("grants", "open_id")


def test_opened_inventory_closes_its_connections(settings: Settings, tmp_path: Path) -> None:
    configured = settings.model_copy(update={"token_inventory": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    with opened_inventory(configured) as inventory:
        assert isinstance(inventory, SqlInventory)
        with pytest.raises(InventoryError, match="cannot count"):  # no table yet; the error is clean
            inventory.count(Scope.all())
    assert isinstance(inventory.engine.pool, QueuePool) and inventory.engine.pool.checkedout() == 0
