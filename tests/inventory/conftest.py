"""Token tables on SQLite and PostgreSQL, filled the way an application would keep them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, insert

from tests.support.services import postgres_database

MakeTable = Callable[..., str]


def token_rows(n: int, *, start: int = 0) -> list[dict[str, object]]:
    """``n`` tokens; every third in tenant "b", every fifth labelled region=eu."""
    return [
        {
            "open_id": f"user-{i:06d}",
            "access_token": f"act.access-{i}",
            "refresh_token": f"rft.refresh-{i}" if i % 2 == 0 else None,
            "expires_at": "2026-11-26T14:00:00+00:00",
            "labels": json.dumps(
                {"tenant": "b" if i % 3 == 0 else "a", **({"region": "eu"} if i % 5 == 0 else {})}
            ),
        }
        for i in range(start, start + n)
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.sqlite'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def make_table(database_url: str) -> Iterator[MakeTable]:
    """Create a token table (default names) holding ``rows``; return the database URL."""
    engines = []

    def make(
        rows: list[dict[str, object]], *, table: str = "tiktok_tokens", rename: dict[str, str] | None = None
    ) -> str:
        names = {
            c: (rename or {}).get(c, c)
            for c in ("open_id", "access_token", "refresh_token", "expires_at", "labels")
        }
        engine = create_engine(database_url)
        engines.append(engine)
        tokens = Table(
            table,
            MetaData(),
            Column(names["open_id"], String(64), primary_key=True),
            Column(names["access_token"], Text, nullable=False),
            Column(names["refresh_token"], Text),
            Column(names["expires_at"], String(40)),
            Column(names["labels"], Text),
        )
        tokens.create(engine)
        with engine.begin() as conn:
            if rows:
                conn.execute(insert(tokens), [{names[k]: v for k, v in row.items()} for row in rows])
        return database_url

    yield make
    for engine in engines:
        engine.dispose()
