"""Record the SQL statements an engine sends, to test what a code path costs the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

__all__ = ["recorded_statements"]


@contextmanager
def recorded_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent inside the block, in order (an executemany counts once)."""
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement.lstrip())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
