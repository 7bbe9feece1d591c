"""Migrations on PostgreSQL do not stall the writers of a running deployment (issue 30, item 2).

Migration 0015 builds an index on the token ledger while a worker's transaction on it is still
open. A plain CREATE INDEX waits for that transaction holding a SHARE lock, and every insert
queues behind it (an outbox index rebuild made an intake insert wait 17 s); built CONCURRENTLY,
the insert goes through at once and the index is valid when the transaction ends.
"""

from __future__ import annotations

import ast
import io
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.store import migrate
from orchestrator.store.db import Store
from tests.support.processes import wait_for
from tests.support.services import postgres_database

pytestmark = [pytest.mark.services]

_LEDGER_ROW = (
    "INSERT INTO revocation_ledger (revocation_id, fingerprint, open_id, status, attempts, first)"
    " VALUES ('rev-online', :fp, 'o', 'pending', 0, false)"
)


_REVOCATION = (
    "INSERT INTO revocations (id, key, scope, priority_open_ids, status, planned, plan_done, rate_per_s,"
    " created_at, milestone, slowed) VALUES ('rev-online', 'k', '{}', '[]', 'running', 0, false, 0,"
    " CURRENT_TIMESTAMP, 0, false)"
)


def _building(store: Store) -> bool:
    """Whether an index build is waiting for a lock (the open transaction) right now."""
    with store.engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE query LIKE 'CREATE INDEX%' AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


def test_an_index_built_by_a_migration_lets_writers_through() -> None:
    with postgres_database() as url:
        store = Store(url)
        try:
            migrate.upgrade(store, "0014")
            with store.engine.begin() as conn:
                conn.execute(text(_REVOCATION))
            worker = store.engine.connect()  # a worker's transaction, still open when the migration starts
            worker.execute(text(_LEDGER_ROW), {"fp": "a" * 64})
            upgrade = threading.Thread(target=migrate.upgrade, args=(store,))
            upgrade.start()
            wait_for(lambda: _building(store), timeout=30, what="the index build waiting for the worker")
            started = time.monotonic()
            with store.engine.begin() as intake:
                intake.execute(text(_LEDGER_ROW), {"fp": "b" * 64})
            waited = time.monotonic() - started
            worker.commit()
            worker.close()
            upgrade.join(60)
            with store.engine.connect() as conn:
                valid = conn.execute(
                    text("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_ledger_updated'::regclass")
                ).scalar()
            print(f"FIGURE: an insert during the index build waited {waited * 1000:.0f} ms")
            assert waited < 1.0
            assert valid is True
            assert migrate.current_revision(store) == migrate.head_revision()
        finally:
            store.dispose()


_INDEX_OPS = ("create_index", "drop_index")


def _index_calls(tree: ast.Module) -> list[tuple[str, str | None]]:
    """(call, table) of each create_index/drop_index an Alembic op or batch op makes in ``upgrade``."""
    [upgrade] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(upgrade):
        if isinstance(node, ast.With):
            call = node.items[0].context_expr
            table = None
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "batch_alter_table":
                table = ast.literal_eval(call.args[0])
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and getattr(inner.func, "attr", "") in _INDEX_OPS:
                    found.append((ast.unparse(inner.func), table))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("op.create_index", "op.drop_index"):
            table = ast.literal_eval(node.args[1]) if len(node.args) > 1 else None
            found.append((ast.unparse(node.func), table))
    return found


def test_additive_migrations_build_indexes_on_existing_tables_concurrently() -> None:
    """A plain index build on a table with rows blocks its writers; a new table has none."""
    versions = Path(migrate.__file__).parent / "migrations" / "versions"
    checked = 0
    for path in sorted(versions.glob("*.py")):
        tree = ast.parse(path.read_text())
        if "additive = True" not in path.read_text():
            continue
        created = {
            ast.literal_eval(node.args[0])
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "op.create_table"
        }
        for call, table in _index_calls(tree):
            assert table in created, f"{path.name}: {call} on {table}: use migrate.create_index_concurrently"
        checked += 1
    assert checked >= 4


def test_a_migration_gives_up_a_lock_it_waits_for_and_tries_again(log_stream: io.StringIO) -> None:
    """Waiting in line for a table lock blocks every later writer of that table behind it: the
    migration waits at most ``LOCK_TIMEOUT_SECONDS``, steps out, and tries again."""
    with postgres_database() as url:
        store = Store(url)
        try:
            migrate.upgrade(store, "0014")
            holder = store.engine.connect()  # e.g. a long report or a backup locking the table
            holder.execute(text("LOCK TABLE revocation_ledger IN ACCESS EXCLUSIVE MODE"))
            upgrade = threading.Thread(target=migrate.upgrade, args=(store,))
            started = time.monotonic()
            upgrade.start()
            time.sleep(migrate.LOCK_TIMEOUT_SECONDS + 1)
            holder.rollback()
            holder.close()
            upgrade.join(60)
            took = time.monotonic() - started
            assert migrate.current_revision(store) == migrate.head_revision()
        finally:
            store.dispose()
    retried = [json.loads(line) for line in log_stream.getvalue().splitlines() if "table lock" in line]
    assert [line["attempt"] for line in retried] == [1]
    assert took < 30
