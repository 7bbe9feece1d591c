"""Purge (clause VI): tokens and TikTok-derived records go, and the counts are the evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, func, insert, select

from orchestrator.errors import ConfigError
from orchestrator.inventory import JsonLinesInventory, Scope, SqlInventory, TokenInventory
from orchestrator.purge import PurgeResult, PurgeTarget, purge, purge_apps, targets_from_config
from tests.inventory.conftest import token_rows


def _app_database(tmp_path: Path, n: int = 9) -> str:
    """The application's database: its token table and two tables of TikTok-derived records."""
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    engine = create_engine(url)
    meta = MetaData()
    tokens = Table(
        "tiktok_tokens",
        meta,
        Column("open_id", String, primary_key=True),
        Column("access_token", String),
        Column("refresh_token", String),
        Column("expires_at", String),
        Column("labels", String),
    )
    videos = Table("tiktok_videos", meta, Column("id", String, primary_key=True), Column("owner", String))
    profiles = Table("tiktok_profiles", meta, Column("open_id", String), Column("kind", String))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(tokens), token_rows(n))
        conn.execute(insert(videos), [{"id": f"v{i}", "owner": f"user-{i % n:06d}"} for i in range(2 * n)])
        conn.execute(
            insert(profiles),
            [{"open_id": f"user-{i:06d}", "kind": "cached" if i % 2 else "kept"} for i in range(n)],
        )
    engine.dispose()
    return url


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = int(
            conn.execute(
                select(func.count()).select_from(Table(table, MetaData(), autoload_with=conn))
            ).scalar_one()
        )
    engine.dispose()
    return found


def test_purging_everything_deletes_tokens_and_records_in_the_inventorys_database(tmp_path: Path) -> None:
    url = _app_database(tmp_path)
    targets = [PurgeTarget("tiktok_videos"), PurgeTarget("tiktok_profiles", where="kind = 'cached'")]
    result = purge(inventory=SqlInventory(url), scope=Scope.all(), targets=targets, batch_size=4)
    assert result == PurgeResult(
        tokens_deleted=9, records_deleted={"tiktok_videos": 18, "tiktok_profiles": 4}
    )
    assert result.as_dict() == {
        "tokens_deleted": 9,
        "records_deleted": {"tiktok_videos": 18, "tiktok_profiles": 4},
    }
    assert [_count(url, t) for t in ("tiktok_tokens", "tiktok_videos", "tiktok_profiles")] == [0, 0, 5]


def test_purging_some_open_ids_deletes_only_their_records(tmp_path: Path) -> None:
    url = _app_database(tmp_path)
    targets = [PurgeTarget("tiktok_videos", open_id_column="owner")]
    scope = Scope.of_open_ids(["user-000001", "user-000002"])
    result = purge(inventory=SqlInventory(url), scope=scope, targets=targets)
    assert result == PurgeResult(tokens_deleted=2, records_deleted={"tiktok_videos": 4})
    assert [_count(url, t) for t in ("tiktok_tokens", "tiktok_videos")] == [7, 14]


def test_a_partial_purge_of_a_table_without_open_id_column_is_refused_before_deleting(tmp_path: Path) -> None:
    url = _app_database(tmp_path)
    with pytest.raises(ConfigError, match="tiktok_videos cannot be purged for part of the inventory"):
        purge(inventory=SqlInventory(url), scope=Scope.of_tenant("b"), targets=[PurgeTarget("tiktok_videos")])
    assert [_count(url, t) for t in ("tiktok_tokens", "tiktok_videos")] == [9, 18]


def test_a_file_inventory_needs_a_url_for_its_records(tmp_path: Path) -> None:
    path = tmp_path / "tokens.jsonl"
    path.write_text(
        "".join(json.dumps({"open_id": f"u{i}", "access_token": f"act.{i}"}) + "\n" for i in range(5))
    )
    with pytest.raises(ConfigError, match="needs a url"):
        purge(inventory=JsonLinesInventory(path), scope=Scope.all(), targets=[PurgeTarget("tiktok_videos")])
    url = _app_database(tmp_path)
    result = purge(
        inventory=JsonLinesInventory(path), scope=Scope.all(), targets=[PurgeTarget("tiktok_videos", url=url)]
    )
    assert result == PurgeResult(tokens_deleted=5, records_deleted={"tiktok_videos": 18})
    assert path.read_text() == ""


def test_purge_records_config_is_checked_entry_by_entry() -> None:
    assert targets_from_config([{"table": "t", "where": "a = 1"}]) == [PurgeTarget("t", where="a = 1")]
    with pytest.raises(ConfigError, match=r"purge_records\[1\].*unknown: colour"):
        targets_from_config([{"table": "t"}, {"table": "u", "colour": "red"}])


def test_every_apps_inventory_is_purged_and_counted(tmp_path: Path) -> None:
    """Several TikTok apps (issue 27): leaving TikTok deletes every app's tokens, not the first
    app's alone; records emptied for the whole inventory are counted once."""
    url = _app_database(tmp_path)
    ads = tmp_path / "ads-tokens.jsonl"
    ads.write_text(
        "".join(json.dumps({"open_id": f"a{i}", "access_token": f"act.a{i}"}) + "\n" for i in range(4))
    )
    inventories: dict[str, TokenInventory] = {"shop": SqlInventory(url), "ads": JsonLinesInventory(ads)}
    result = purge_apps(inventories, scope=Scope.all(), targets=[PurgeTarget("tiktok_videos", url=url)])
    assert result.as_dict() == {
        "tokens_deleted": 13,
        "records_deleted": {"tiktok_videos": 18},
        "apps": {"shop": 9, "ads": 4},
    }
    assert (_count(url, "tiktok_tokens"), ads.read_text()) == (0, "")
