"""Alembic environment: runs migrations on the connection the orchestrator hands it.

Each migration commits on its own (an index built ``CONCURRENTLY`` must run outside a
transaction), and afterwards ``schema_window`` records the oldest revision whose code still
runs on the store: the newest migration not marked ``additive = True`` (orchestrator/store/migrate.py).
"""

from __future__ import annotations

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text

from orchestrator.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    _record_window(connection, context.script)


def _record_window(connection: Connection, script: ScriptDirectory) -> None:
    if not inspect(connection).has_table("schema_window"):
        return  # a target revision before the table exists
    current = context.get_context().get_current_revision()
    oldest = current
    for revision in script.iterate_revisions(current, "base"):
        oldest = revision.revision
        if not getattr(revision.module, "additive", False):
            break
    connection.execute(text("DELETE FROM schema_window"))
    insert = text("INSERT INTO schema_window (oldest_revision) VALUES (:oldest)")
    connection.execute(insert, {"oldest": oldest})
    connection.commit()


run_migrations_online()
