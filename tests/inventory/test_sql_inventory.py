"""The SQL inventory on SQLite and PostgreSQL: keyset pages, scopes, counts and deletes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from orchestrator.inventory import InventoryError, Scope, SqlInventory, TokenRecord
from tests.inventory.conftest import MakeTable, token_rows


def _ids(batches: list[list[TokenRecord]]) -> list[str]:
    return [record.open_id for batch in batches for record in batch]


def test_ten_thousand_rows_stream_in_keyset_pages_never_whole(make_table: MakeTable) -> None:
    inventory = SqlInventory(make_table(token_rows(10_000)))
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(inventory.engine, "before_cursor_execute", record)
    try:
        batches = list(inventory.stream(Scope.all(), batch_size=1000))
    finally:
        inventory.close()
    assert [len(batch) for batch in batches] == [1000] * 10
    assert _ids(batches) == [f"user-{i:06d}" for i in range(10_000)]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 11  # ten full pages, then one empty page ends the stream
    assert all("LIMIT" in s.upper() for s in selects)
    assert sum(">" in s for s in selects) == 10  # every page after the first starts past the last key


def test_records_carry_tokens_expiry_and_labels(make_table: MakeTable) -> None:
    inventory = SqlInventory(make_table(token_rows(2)))
    (batch,) = list(inventory.stream(Scope.all()))
    assert batch == [
        TokenRecord(
            open_id="user-000000",
            access_token="act.access-0",
            refresh_token="rft.refresh-0",
            expires_at=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
            labels={"tenant": "b", "region": "eu"},
        ),
        TokenRecord(
            open_id="user-000001",
            access_token="act.access-1",
            refresh_token=None,
            expires_at=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
            labels={"tenant": "a"},
        ),
    ]
    inventory.close()


@pytest.mark.parametrize(
    ("scope", "expected", "count"),
    [
        (Scope.of_open_ids(["user-000007", "user-000003", "nobody"]), ["user-000003", "user-000007"], 2),
        (Scope.with_label("region", "eu"), [f"user-{i:06d}" for i in range(0, 30, 5)], None),
        (Scope.of_tenant("b"), [f"user-{i:06d}" for i in range(0, 30, 3)], None),
        (Scope.all(), [f"user-{i:06d}" for i in range(30)], 30),
    ],
)
def test_scopes_select_by_open_id_label_and_tenant(
    make_table: MakeTable, scope: Scope, expected: list[str], count: int | None
) -> None:
    inventory = SqlInventory(make_table(token_rows(30)))
    batches = list(inventory.stream(scope, batch_size=4))
    assert _ids(batches) == expected
    assert all(1 <= len(batch) <= 4 for batch in batches)
    assert inventory.count(scope) == count
    inventory.close()


def test_open_id_scope_longer_than_one_in_clause_is_chunked(make_table: MakeTable) -> None:
    inventory = SqlInventory(make_table(token_rows(1500)))
    wanted = [f"user-{i:06d}" for i in range(0, 1500, 1)]
    assert len(_ids(list(inventory.stream(Scope.of_open_ids(wanted), batch_size=700)))) == 1500
    assert inventory.count(Scope.of_open_ids(wanted)) == 1500
    inventory.close()


def test_delete_removes_every_row_of_the_open_ids_and_counts_them(make_table: MakeTable) -> None:
    inventory = SqlInventory(make_table(token_rows(10)))
    assert inventory.delete(["user-000001", "user-000002", "nobody"]) == 2
    assert inventory.count(Scope.all()) == 8
    assert "user-000001" not in _ids(list(inventory.stream(Scope.all())))
    inventory.close()


def test_column_mapping_from_config_names_the_table_and_columns(make_table: MakeTable) -> None:
    url = make_table(token_rows(3), table="app_grants", rename={"open_id": "uid", "access_token": "tok"})
    inventory = SqlInventory(
        url,
        columns={"table": "app_grants", "open_id": "uid", "access_token": "tok", "refresh_token": None},
    )
    (batch,) = list(inventory.stream(Scope.all()))
    assert [(r.open_id, r.access_token, r.refresh_token) for r in batch] == [
        ("user-000000", "act.access-0", None),
        ("user-000001", "act.access-1", None),
        ("user-000002", "act.access-2", None),
    ]
    inventory.close()


def test_a_missing_table_is_an_inventory_error_without_the_url(make_table: MakeTable) -> None:
    url = make_table([])
    inventory = SqlInventory(url, columns={"table": "no_such_table"})
    with pytest.raises(InventoryError, match="cannot read the token table") as caught:
        list(inventory.stream(Scope.all()))
    assert url not in str(caught.value)
    assert repr(inventory) == "SqlInventory(table='no_such_table')"
    inventory.close()
