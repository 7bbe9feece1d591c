"""Purge (clause VI): delete the tokens in a scope and the application's TikTok-derived records.

Returns counts as evidence; the caller records them as ``purge.finished`` on the timeline.
Records are the tables ``purge_records`` names (``{table, url?, where?, open_id_column?}``;
``url`` defaults to a SQL inventory's own database, its ``database_url``). For the whole
inventory each table is emptied (or the rows matching ``where``); for a narrower scope only
rows whose ``open_id_column`` is one of the purged ``open_id``s go, and a table without that
column is refused before anything is deleted, because purging more than asked is not undoable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, column, create_engine, delete, table, text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.config import engine_url
from orchestrator.errors import ConfigError
from orchestrator.tokens.inventory import DatabaseInventory, InventoryError, Scope, TokenInventory

__all__ = ["PurgeResult", "PurgeTarget", "purge", "purge_apps", "targets_from_config"]

_DELETE_CHUNK = 50_000  # open_ids per inventory delete: few rewrites of a JSON-lines file


@dataclass(frozen=True, slots=True)
class PurgeTarget:
    """One table of TikTok-derived records to delete."""

    table: str
    url: str | None = None
    where: str | None = None
    open_id_column: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What was deleted: the evidence for ``purge.finished``; ``apps`` the tokens of each app
    (``purge_apps``)."""

    tokens_deleted: int
    records_deleted: dict[str, int] = field(default_factory=dict)
    apps: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        found = {"tokens_deleted": self.tokens_deleted, "records_deleted": dict(self.records_deleted)}
        return found | ({"apps": dict(self.apps)} if self.apps else {})


def targets_from_config(entries: Iterable[Mapping[str, Any]]) -> list[PurgeTarget]:
    """``purge_records`` entries as targets; ConfigError naming the entry when one is wrong."""
    targets: list[PurgeTarget] = []
    for index, entry in enumerate(entries):
        unknown = set(entry) - {"table", "url", "where", "open_id_column"}
        if unknown or not entry.get("table"):
            raise ConfigError(
                f"purge_records[{index}]: needs 'table' and may have url, where, open_id_column"
                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
            )
        targets.append(
            PurgeTarget(
                table=str(entry["table"]),
                url=entry.get("url"),
                where=entry.get("where"),
                open_id_column=entry.get("open_id_column"),
            )
        )
    return targets


def _engines(targets: Sequence[PurgeTarget], default_url: str | None) -> dict[str, Engine]:
    engines: dict[str, Engine] = {}
    for target in targets:
        url = target.url or default_url
        if not url:
            raise ConfigError(
                f"purge_records: table {target.table!r} needs a url (the token inventory is not SQL)"
            )
        if url not in engines:
            engines[url] = create_engine(engine_url(url), future=True)
    return engines


def _delete_records(engine: Engine, target: PurgeTarget, open_ids: Sequence[str] | None) -> int:
    schema, _, name = target.table.rpartition(".")
    columns: list[Any] = [column(target.open_id_column)] if target.open_id_column else []
    records = table(name, *columns, schema=schema or None)
    clauses: list[Any] = []
    if target.where:
        clauses.append(text(target.where))
    if open_ids is not None:
        clauses.append(records.c[str(target.open_id_column)].in_(list(open_ids)))
    statement = delete(records)
    if clauses:
        statement = statement.where(and_(*clauses))
    try:
        with engine.begin() as conn:
            return int(conn.execute(statement).rowcount or 0)
    except SQLAlchemyError as exc:
        raise InventoryError(f"purge of table {target.table!r} failed: {type(exc).__name__}") from None


def purge(
    *,
    inventory: TokenInventory,
    scope: Scope,
    targets: Sequence[PurgeTarget] = (),
    default_url: str | None = None,
    batch_size: int = 1000,
) -> PurgeResult:
    """Delete the tokens in ``scope`` through the inventory and the matching records; return counts."""
    if not scope.is_all:
        partial = [t.table for t in targets if not t.open_id_column]
        if partial:
            raise ConfigError(
                f"purge_records: {', '.join(partial)} cannot be purged for part of the inventory"
                " without open_id_column"
            )
    if default_url is None and isinstance(inventory, DatabaseInventory):
        default_url = inventory.database_url
    engines = _engines(targets, default_url)
    records: dict[str, int] = {t.table: 0 for t in targets}
    tokens = 0
    try:
        pending: list[str] = []

        def flush() -> int:
            if not scope.is_all:
                for target in targets:
                    engine = engines[str(target.url or default_url)]
                    records[target.table] += _delete_records(engine, target, pending)
            deleted = inventory.delete(pending)
            pending.clear()
            return deleted

        for batch in inventory.stream(scope, batch_size=batch_size):
            pending.extend(dict.fromkeys(record.open_id for record in batch))
            if len(pending) >= _DELETE_CHUNK:
                tokens += flush()
        if pending:
            tokens += flush()
        if scope.is_all:
            for target in targets:
                records[target.table] += _delete_records(
                    engines[str(target.url or default_url)], target, None
                )
    finally:
        for engine in engines.values():
            engine.dispose()
    return PurgeResult(tokens_deleted=tokens, records_deleted=records)


def purge_apps(
    inventories: Mapping[str, TokenInventory], *, scope: Scope, targets: Sequence[PurgeTarget]
) -> PurgeResult:
    """``purge`` each app's inventory (app name -> inventory) in turn: every app's tokens go, not
    only the first's, and each app's count is in the evidence. Records emptied for the whole
    inventory are counted once (the next app finds them gone)."""
    records: dict[str, int] = {t.table: 0 for t in targets}
    apps: dict[str, int] = {}
    for app, inventory in inventories.items():
        result = purge(inventory=inventory, scope=scope, targets=targets)
        apps[app] = result.tokens_deleted
        for name, deleted in result.records_deleted.items():
            records[name] += deleted
    return PurgeResult(tokens_deleted=sum(apps.values()), records_deleted=records, apps=apps)
