"""Schema migrations with Alembic: upgrade to head, and tell whether this release runs on a store.
Processes started together take turns (an advisory lock on PostgreSQL, a file lock on SQLite).

Migrations are additive within a release window (a migration module says ``additive = True``
when the release before it still runs against the schema it leaves): new tables, nullable or
defaulted columns, indexes built ``CONCURRENTLY``; anything destructive waits for a later
release. The migration environment records in ``schema_window`` the oldest revision whose code
still runs on the store, so a process of the previous release, finding a newer schema, can tell
whether to run (a rolling upgrade) or to refuse. On PostgreSQL each migration commits on its own
and waits at most ``lock_timeout`` for a lock, so it never queues the intake behind it for long.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError

from orchestrator.errors import SchemaError, StoreError
from orchestrator.logging import get_logger
from orchestrator.store.db import Store

__all__ = [
    "LOCK_TIMEOUT_SECONDS",
    "SchemaStatus",
    "create_index_concurrently",
    "current_revision",
    "drop_index_concurrently",
    "head_revision",
    "schema_status",
    "upgrade",
]

_log = get_logger(__name__)
_SCRIPTS = Path(__file__).parent / "migrations"
_ADVISORY_LOCK = 7417001
LOCK_TIMEOUT_SECONDS = 5
"""How long a migration statement waits for a table lock on PostgreSQL before giving up (and the
upgrade retrying it): a lock request waiting in line blocks every later one on that table, the
intake's inserts included, so it must not wait long."""
_ATTEMPTS = 5


def _config(store: Store) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return cfg


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the store's schema to ``revision``; never drops data on the way up. A store already
    newer than this release is left alone (SchemaError if this release cannot run on it)."""
    status = schema_status(store)
    if status.newer:
        status.require_runnable()
        return
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _upgrade_once(store, revision)
            return
        except DBAPIError as exc:
            if "lock timeout" not in str(exc.orig) or attempt == _ATTEMPTS:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                again = "run 'orchestrator db upgrade' again"
                raise StoreError(f"the migration failed: {reason}; {again}") from exc
            _log.warning("a migration waited too long for a table lock; trying again", attempt=attempt)
            time.sleep(attempt)  # a long transaction holds the table: let it finish, then retry


@contextmanager
def _sqlite_turn(store: Store) -> Iterator[None]:
    """Processes started together on an empty SQLite store take turns, as the advisory lock makes
    them on PostgreSQL: an exclusive lock on a file beside the database (the API, a worker and the
    scheduler started at once otherwise each create the same tables, and all but one fail)."""
    if store.sqlite_path is None:
        yield
        return
    lock = store.sqlite_path.with_name(store.sqlite_path.name + ".migrate-lock")
    handle = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def _upgrade_once(store: Store, revision: str) -> None:
    cfg = _config(store)
    with _sqlite_turn(store), store.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # Processes started together on an empty store take turns; the later ones find it
            # current. Session-level: each migration commits on its own (transaction_per_migration).
            _lock(connection)
            connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
            connection.commit()
        try:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
        finally:
            if postgres:
                connection.rollback()
                connection.execute(text("RESET lock_timeout"))
                connection.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK})"))
                connection.commit()


def create_index_concurrently(name: str, table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    """Inside a migration: build an index without blocking writes to ``table`` (PostgreSQL's
    ``CREATE INDEX CONCURRENTLY``, outside any transaction; an invalid index a failed attempt
    left is dropped first). SQLite builds it plainly: one process writes at a time there anyway.
    It commits what the migration did before it, so call it first (a retried migration must not
    find half of itself done)."""
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_index(name, list(columns), unique=unique)
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        op.create_index(name, table, list(columns), unique=unique, postgresql_concurrently=True)


def drop_index_concurrently(name: str, table: str) -> None:
    """Inside a migration: drop an index without blocking writes to ``table`` (PostgreSQL's
    ``DROP INDEX CONCURRENTLY``, outside any transaction); SQLite drops it plainly."""
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(name)
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


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


@dataclass(frozen=True)
class SchemaStatus:
    """The store's revision against this release's: ``current``, ``behind``, ``newer`` (from a
    later release) with ``oldest`` the oldest revision whose code still runs on it."""

    store: str | None
    head: str
    known: bool
    oldest: str | None

    @property
    def current(self) -> bool:
        return self.store == self.head

    @property
    def behind(self) -> bool:
        return self.store is not None and self.known and not self.current

    @property
    def newer(self) -> bool:
        return self.store is not None and not self.known

    @property
    def runnable(self) -> bool:
        """True when this release may run on the store: current, or newer and additive since."""
        if self.current:
            return True
        return self.newer and self.oldest is not None and self.oldest in _revisions()

    def describe(self) -> str:
        if self.store is None:
            return f"the store is empty; this release's schema is {self.head}"
        if self.current:
            return f"the store is at schema {self.head}, this release's"
        if self.behind:
            return (
                f"the store is at schema {self.store}, older than this release's {self.head}: "
                "run 'orchestrator db upgrade' of this release"
            )
        if self.runnable:
            return (
                f"the store is at schema {self.store}, from a newer release than this one "
                f"({self.head}); its changes since are additive, so this release runs on it"
            )
        since = f"releases before schema {self.oldest}" if self.oldest else "this release"
        return (
            f"the store is at schema {self.store}, from a newer release than this one ({self.head}), "
            f"and no longer runs {since}: run this process from the newer release"
        )

    def require_runnable(self) -> None:
        """SchemaError (saying what is true and what to do) unless this release may run on the store."""
        if not self.runnable:
            raise SchemaError(self.describe())


def _lock(connection: Connection) -> None:
    """Take the migration lock (session-level), asking again every 0.2 s rather than waiting in a
    statement: ``CREATE INDEX CONCURRENTLY`` waits for every transaction with a snapshot, and a
    statement waiting for the lock that migration holds would be one of them (a deadlock)."""
    while not connection.execute(text(f"SELECT pg_try_advisory_lock({_ADVISORY_LOCK})")).scalar():
        connection.commit()
        time.sleep(0.2)
    connection.commit()


def _wait_for_migration(store: Store) -> None:
    if store.is_sqlite:
        with _sqlite_turn(store):
            return
    with store.engine.connect() as connection:
        _lock(connection)
        connection.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_LOCK})"))
        connection.commit()


def _revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(_SCRIPTS)).walk_revisions()}


def schema_status(store: Store) -> SchemaStatus:
    """Where the store's schema stands against this release's (StoreError if unreachable), read
    after any migration running now has finished: each of its steps commits, and a process
    starting meanwhile would see a schema half way."""
    revision = current_revision(store)  # first: an unreachable store is one line
    _wait_for_migration(store)
    revision = current_revision(store)
    known = revision is None or revision in _revisions()
    oldest = None
    if not known:
        with store.engine.connect() as connection:
            if inspect(connection).has_table("schema_window"):
                oldest = connection.execute(text("SELECT oldest_revision FROM schema_window")).scalar()
    return SchemaStatus(store=revision, head=head_revision(), known=known, oldest=oldest)
