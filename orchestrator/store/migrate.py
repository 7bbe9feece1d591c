"""Schema migrations with Alembic: upgrade to head, and tell whether a store is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from orchestrator.errors import StoreError
from orchestrator.store.db import Store

__all__ = ["current_revision", "head_revision", "upgrade"]

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(store: Store) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return cfg


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the store's schema to ``revision``; never drops data on the way up."""
    cfg = _config(store)
    with store.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Processes started together on an empty store take turns; the later ones find it current.
            connection.execute(text("SELECT pg_advisory_xact_lock(7417001)"))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def head_revision() -> str:
    script = ScriptDirectory(str(_SCRIPTS))
    head = script.get_current_head()
    if head is None:
        raise StoreError("no migrations found")
    return head


def current_revision(store: Store) -> str | None:
    """The revision the store is at, or None for an empty store; StoreError (one line, naming
    the store without its password) when it cannot be reached: every command asks this first."""
    try:
        with store.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        where = store.engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise StoreError(f"the store at {where} is unreachable: {reason}") from exc
