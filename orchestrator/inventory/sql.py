"""A token inventory in a SQL table (SQLite or PostgreSQL by URL), streamed by keyset pagination.

Each batch is one ``SELECT ... WHERE key > :last ORDER BY key LIMIT :n``, so memory holds one
batch whatever the table's size, and rows deleted meanwhile do not shift later pages. The
``key`` column (default: the ``open_id`` column) must be unique; map it to the primary key when
one ``open_id`` can have several rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, column, create_engine, delete, func, select, table
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.config import engine_url
from orchestrator.tokens.inventory import (
    DEFAULT_BATCH_SIZE,
    InventoryError,
    Scope,
    TokenRecord,
    parse_expiry,
)

__all__ = ["DEFAULT_COLUMNS", "SqlInventory"]

DEFAULT_COLUMNS: dict[str, str | None] = {
    "table": "tiktok_tokens",
    "key": None,  # None: the open_id column
    "open_id": "open_id",
    "access_token": "access_token",
    "refresh_token": "refresh_token",
    "expires_at": "expires_at",
    "labels": "labels",
    "tenant": None,  # None: the tenant is the label "tenant"
}
_IN_CHUNK = 500


def _labels(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise InventoryError("the labels column must hold a JSON object") from None
    if not isinstance(value, dict):
        raise InventoryError("the labels column must hold a JSON object")
    return {str(k): str(v) for k, v in value.items()}


class SqlInventory:
    """Tokens in one table; column names come from the config (``token_inventory_columns``)."""

    def __init__(
        self, url: str, *, columns: Mapping[str, str | None] | None = None, engine: Engine | None = None
    ) -> None:
        mapping = {**DEFAULT_COLUMNS, **(columns or {})}
        for required in ("table", "open_id", "access_token"):
            if not mapping.get(required):
                raise InventoryError(f"token_inventory_columns.{required} must name a column")
        self.columns = mapping
        self.url = engine_url(url)
        self.engine = engine or create_engine(self.url, future=True, pool_pre_ping=True)
        schema, _, name = str(mapping["table"]).rpartition(".")
        names = list(dict.fromkeys(c for key, c in mapping.items() if key != "table" and c))
        self.table = table(name, *(column(c) for c in names), schema=schema or None)
        self._key = self.table.c[str(mapping["key"] or mapping["open_id"])]
        self._open_id = self.table.c[str(mapping["open_id"])]

    @property
    def database_url(self) -> str:
        """Where purge finds the TikTok-derived records by default (a ``DatabaseInventory``)."""
        return self.url

    def _col(self, name: str) -> Any:
        mapped = self.columns.get(name)
        return self.table.c[mapped] if mapped else None

    def _filters(self, scope: Scope) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        tenant = self._col("tenant")
        if scope.tenant is not None and tenant is not None:
            filters.append(tenant == scope.tenant)
        return filters

    def _python_filter(self, scope: Scope) -> Scope:
        """The part of ``scope`` SQL cannot express portably (labels live in a JSON column)."""
        tenant_in_sql = self._col("tenant") is not None
        return Scope(label=scope.label, tenant=None if tenant_in_sql else scope.tenant)

    def _record(self, row: Mapping[str, Any]) -> TokenRecord:
        def value(name: str) -> Any:
            mapped = self.columns.get(name)
            return row[mapped] if mapped else None

        labels = _labels(value("labels"))
        tenant = value("tenant")
        if tenant is not None:
            labels.setdefault("tenant", str(tenant))
        refresh = value("refresh_token")
        return TokenRecord(
            open_id=str(value("open_id")),
            access_token=str(value("access_token")),
            refresh_token=str(refresh) if refresh else None,
            expires_at=parse_expiry(value("expires_at")),
            labels=labels,
        )

    def _pages(self, extra: list[ColumnElement[bool]], page: int) -> Iterator[list[dict[str, Any]]]:
        last: Any = None
        while True:
            where = list(extra)
            if last is not None:
                where.append(self._key > last)
            query = select(self.table).order_by(self._key).limit(page)
            if where:
                query = query.where(and_(*where))
            try:
                with self.engine.connect() as conn:
                    rows = [dict(r) for r in conn.execute(query).mappings()]
            except SQLAlchemyError as exc:
                raise InventoryError(f"cannot read the token table: {type(exc).__name__}") from None
            if not rows:
                return
            yield rows
            if len(rows) < page:
                return
            last = rows[-1][self._key.name]

    def stream(self, scope: Scope, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[list[TokenRecord]]:
        """Batches of at most ``batch_size`` records in ``scope``, in key order."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        rest = self._python_filter(scope)
        if scope.open_ids is not None:
            chunks = [
                sorted(scope.open_ids)[i : i + _IN_CHUNK] for i in range(0, len(scope.open_ids), _IN_CHUNK)
            ]
            queries = [[*self._filters(scope), self._open_id.in_(chunk)] for chunk in chunks]
        else:
            queries = [self._filters(scope)]
        batch: list[TokenRecord] = []
        for where in queries:
            for rows in self._pages(where, batch_size):
                for row in rows:
                    record = self._record(row)
                    if rest.is_all or rest.matches(record):
                        batch.append(record)
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
        if batch:
            yield batch

    def count(self, scope: Scope) -> int | None:
        """Exact for all, open_ids and a mapped tenant column; None for labels (would need a scan)."""
        if not self._python_filter(scope).is_all:
            return None
        where = self._filters(scope)
        chunks: list[list[str] | None] = [None]
        if scope.open_ids is not None:
            ids = sorted(scope.open_ids)
            chunks = [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]
        total = 0
        try:
            with self.engine.connect() as conn:
                for chunk in chunks:
                    clauses = [*where, self._open_id.in_(chunk)] if chunk is not None else where
                    query = select(func.count()).select_from(self.table)
                    if clauses:
                        query = query.where(and_(*clauses))
                    total += int(conn.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise InventoryError(f"cannot count the token table: {type(exc).__name__}") from None
        return total

    def delete(self, open_ids: Sequence[str]) -> int:
        """Delete every row of these ``open_id``s in one transaction; return the row count."""
        ids = sorted(set(open_ids))
        deleted = 0
        try:
            with self.engine.begin() as conn:
                for i in range(0, len(ids), _IN_CHUNK):
                    result = conn.execute(delete(self.table).where(self._open_id.in_(ids[i : i + _IN_CHUNK])))
                    deleted += int(result.rowcount or 0)
        except SQLAlchemyError as exc:
            raise InventoryError(f"cannot delete from the token table: {type(exc).__name__}") from None
        return deleted

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlInventory(table={self.columns['table']!r})"  # never the URL: it may hold a password
