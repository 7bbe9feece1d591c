"""Engine, session factory and unit of work: one code path for SQLite and PostgreSQL.

SQLite is the embedded default. Its write transactions start with ``BEGIN IMMEDIATE``
so that two processes never deadlock upgrading a read lock, and it runs in WAL mode
so readers do not block the writer. Writers of one process queue on a lock of their own
instead of on SQLite's busy handler, and a writer waiting for another process polls every
millisecond or two: SQLite's handler sleeps in steps growing to 100 ms, which under
contention (API, worker threads and scheduler writing at once) made a short transaction
wait many times its own length. PostgreSQL gets ``SELECT ... FOR UPDATE`` where
rows are claimed; SQLite's database-level write lock gives the same guarantee.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from orchestrator.errors import StoreError
from orchestrator.store.private import private_file
from orchestrator.store.turns import WriteTurns

if TYPE_CHECKING:
    from orchestrator.config import Settings

T = TypeVar("T")

__all__ = ["Base", "Store", "UTCDateTime", "after_commit", "intake_waiting", "transaction_scoped"]


class Base(DeclarativeBase):
    """Declarative base for every table of the orchestrator."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy's begin hook decide
    cursor = dbapi_connection.cursor()
    _write_ahead_log(cursor)
    # Short: waits inside a transaction are rare in WAL with BEGIN IMMEDIATE; BEGIN polls itself.
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _write_ahead_log(cursor: Any) -> None:
    """Switch a new database to WAL, asking again while another process's connection holds it:
    SQLite answers "database is locked" at once there, without waiting (processes started
    together on a new store)."""
    deadline = time.monotonic() + _BEGIN_PATIENCE
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01 + random.random() * 0.02)


_BUSY_MS = 50
_BEGIN_PATIENCE = 30.0  # seconds a writer waits for another process's transaction


def _sqlite_begin(conn: Any) -> None:
    deadline = time.monotonic() + _BEGIN_PATIENCE
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
        time.sleep(0.0005 + random.random() * 0.0015)


def _begin_in_turn(turns: WriteTurns) -> Callable[[Any], None]:
    def begin(conn: Any) -> None:
        with turns.turn():
            _sqlite_begin(conn)

    return begin


_AFTER_COMMIT = "orchestrator.after_commit"
_TRANSACTION_SCOPED = "orchestrator.transaction_scoped"


def transaction_scoped(session: Session, key: str, factory: Callable[[], T]) -> T:
    """State kept for as long as ``session``'s transaction (or a savepoint inside it) lasts: rows
    it holds locked, or what it wrote under a lock. Made by ``factory`` on first use."""
    scoped: dict[str, Any] = session.info.setdefault(_TRANSACTION_SCOPED, {})
    if key not in scoped:
        scoped[key] = factory()
    value: T = scoped[key]
    return value


@event.listens_for(Session, "after_transaction_end")
def _end_transaction_scoped(session: Session, transaction: Any) -> None:
    """A flush begins and ends an inner transaction too (and autoflush runs before every query):
    only the outer transaction's end, or a savepoint's, ends the state."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_TRANSACTION_SCOPED, None)


_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


def intake_waiting(session: Session) -> bool:
    """On SQLite, whether the intake waits for the write lock ``session``'s transaction holds
    (``store/turns.py``): a long transaction commits early and goes on in another. Elsewhere the
    intake never waits for other writers, and this is False."""
    bind = session.get_bind()
    turns = _TURNS.get(bind) if isinstance(bind, Engine) else None
    return turns is not None and turns.intake_waiting()


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the unit of work that owns ``session`` has committed (never on a
    rollback): work that must not happen before the data is durable, such as a second mirror
    publish."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _private_database(path: Path) -> None:
    """The database file 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
    database's mode, so they follow. A folder made for it is 0700 (an existing one is left as it
    is: it may be shared, like /tmp)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file == path or file.exists():
            private_file(file)


class Store:
    """Owns the engine; ``unit_of_work()`` yields a session committed on success."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 20) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        path = url.split("///", 1)[-1] if self.is_sqlite else ""
        self.sqlite_path = Path(path) if path and path != ":memory:" else None
        """The SQLite database's file; None for a server or an in-memory database."""
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            if self.sqlite_path is not None:
                _private_database(self.sqlite_path)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            # A process opens at most pool_size + max_overflow connections (docs/operations.md).
            kwargs.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
        self.engine: Engine = create_engine(url, **kwargs)
        self._turns: WriteTurns | None = None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if self.sqlite_path is not None:
                self._turns = _TURNS[self.engine] = WriteTurns(path)
                event.listen(self.engine, "begin", _begin_in_turn(self._turns))
            else:
                event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = threading.RLock() if self.is_sqlite else None

    @classmethod
    def for_settings(cls, settings: Settings) -> Store:
        """The configured store, its connection pool sized by ``database_pool_size`` and
        ``database_max_overflow``."""
        return cls(
            settings.store_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A transaction: commit when the block ends, roll back on any exception; then run what
        ``after_commit`` registered (only after a commit, outside the writer lock)."""
        with self._writers or nullcontext():
            session = self._sessions()
            try:
                with session.begin():
                    yield session
                callbacks: list[Callable[[], object]] = session.info.pop(_AFTER_COMMIT, [])
            except OperationalError as exc:
                raise StoreError(f"the store refused the transaction: {exc.orig}") from exc
            finally:
                session.close()
        for callback in callbacks:
            callback()

    @contextmanager
    def ahead(self) -> Iterator[None]:
        """On SQLite, transactions this thread begins in the block go before other writers'
        (``store/turns.py``): the intake's, whose senders wait. Elsewhere it changes nothing."""
        with self._turns.ahead() if self._turns else nullcontext():
            yield

    def ping(self) -> None:
        """Raise StoreError unless the store answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.rollback()
        except Exception as exc:
            raise StoreError(f"store unreachable: {type(exc).__name__}") from exc

    def for_update(self) -> dict[str, Any]:
        """Arguments for ``with_for_update`` that skip rows another worker holds (PostgreSQL)."""
        return {} if self.is_sqlite else {"skip_locked": True}

    def dispose(self) -> None:
        self.engine.dispose()
        if self._turns:
            self._turns.close()
