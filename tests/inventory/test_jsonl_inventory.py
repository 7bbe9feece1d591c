"""The JSON-lines inventory: line by line, scoped, and rewritten atomically on delete."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.inventory import InventoryError, JsonLinesInventory, Scope, TokenRecord


def _write(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            line: dict[str, Any] = {"open_id": f"u{i}", "access_token": f"act.a{i}"}
            if i % 2 == 0:
                line |= {"refresh_token": f"rft.r{i}", "expires_at": 1795701600, "labels": {"tenant": "even"}}
            out.write(json.dumps(line) + "\n")
            if i == 1:
                out.write("\n")  # blank lines are skipped
    return path


def test_streams_every_record_in_file_order_and_batches(tmp_path: Path) -> None:
    inventory = JsonLinesInventory(_write(tmp_path / "tokens.jsonl", 10_000))
    batches = list(inventory.stream(Scope.all(), batch_size=3000))
    assert [len(b) for b in batches] == [3000, 3000, 3000, 1000]
    assert batches[0][:2] == [
        TokenRecord(
            open_id="u0",
            access_token="act.a0",
            refresh_token="rft.r0",
            expires_at=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
            labels={"tenant": "even"},
        ),
        TokenRecord(open_id="u1", access_token="act.a1"),
    ]
    assert inventory.count(Scope.all()) == 10_000


def test_scopes_by_open_ids_label_and_tenant(tmp_path: Path) -> None:
    inventory = JsonLinesInventory(_write(tmp_path / "tokens.jsonl", 10))
    assert [r.open_id for b in inventory.stream(Scope.of_open_ids(["u3", "u4"])) for r in b] == ["u3", "u4"]
    assert inventory.count(Scope.with_label("tenant", "even")) == 5
    assert inventory.count(Scope.of_tenant("even")) == 5
    assert inventory.count(Scope.of_tenant("odd")) == 0


def test_open_id_scope_finds_escaped_and_shadowed_open_ids(tmp_path: Path) -> None:
    """Lines are found by an index of their open_id; an escaped one, or a label named open_id, too."""
    path = tmp_path / "tokens.jsonl"
    lines = [
        {"open_id": 'u"quoted', "access_token": "act.q"},
        {"labels": {"open_id": "decoy"}, "open_id": "u-real", "access_token": "act.r"},
        {"open_id": "decoy", "access_token": "act.d"},
        {"open_id": "u-plain", "access_token": "act.p"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    inventory = JsonLinesInventory(path)
    wanted = Scope.of_open_ids(['u"quoted', "u-real", "u-plain"])
    assert [r.access_token for b in inventory.stream(wanted) for r in b] == ["act.q", "act.r", "act.p"]


def test_open_id_lookups_follow_the_file_as_it_changes(tmp_path: Path) -> None:
    """The index belongs to one version of the file: appended, replaced and broken lines are seen."""
    path = _write(tmp_path / "tokens.jsonl", 10)
    inventory = JsonLinesInventory(path)
    assert [r.open_id for b in inventory.stream(Scope.of_open_ids(["u9", "u0"])) for r in b] == ["u0", "u9"]
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"open_id": "u10", "access_token": "act.new"}) + "\n")
    found = [r.access_token for b in inventory.stream(Scope.of_open_ids(["u10"])) for r in b]
    assert found == ["act.new"]
    assert inventory.delete(["u0"]) == 1
    assert [r.open_id for b in inventory.stream(Scope.of_open_ids(["u0", "u1"])) for r in b] == ["u1"]
    with path.open("a", encoding="utf-8") as out:
        out.write('{"open_id": "u11", "access_token": "act.leak"\n')
    with pytest.raises(InventoryError) as caught:
        list(inventory.stream(Scope.of_open_ids(["u11"])))
    assert str(caught.value) == f"{path}:11: not a JSON object (one object a line)"  # delete drops blanks


def test_delete_rewrites_the_file_without_those_open_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "tokens.jsonl", 6)
    path.chmod(0o600)
    inventory = JsonLinesInventory(path)
    assert inventory.delete(["u1", "u4", "nobody"]) == 2
    assert [json.loads(line)["open_id"] for line in path.read_text().splitlines()] == ["u0", "u2", "u3", "u5"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert inventory.delete(["nobody"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.jsonl", "tokens.jsonl.lock"]


def test_a_bad_line_is_named_by_number_and_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "tokens.jsonl"
    path.write_text(
        '{"open_id": "u0", "access_token": "act.fine"}\n{"open_id": "u1", "access_token": "act.leak"\n'
    )
    with pytest.raises(InventoryError) as caught:
        list(JsonLinesInventory(path).stream(Scope.all()))
    assert str(caught.value) == f"{path}:2: not a JSON object (one object a line)"
    path.write_text('{"open_id": "u0"}\n')
    with pytest.raises(InventoryError, match=":1: open_id and access_token"):
        list(JsonLinesInventory(path).stream(Scope.all()))


def test_a_missing_file_is_an_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        list(JsonLinesInventory(tmp_path / "none.jsonl").stream(Scope.all()))
