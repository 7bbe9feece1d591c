"""Migration 0020 keys the ledger by app and fingerprint: a single-app store's rows read as the app
``default``'s, a token stays once per app, and the same token of another app gets a row of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from orchestrator.revocation import flows
from orchestrator.store import migrate
from orchestrator.store.db import Store
from tests.support.services import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
        yield store
        store.dispose()
        return
    with postgres_database() as url:
        store = Store(url)
        yield store
        store.dispose()


_LEDGER = (
    "INSERT INTO revocation_ledger (revocation_id, fingerprint, open_id, status, attempts{app})"
    " VALUES ('rev-a', 'fp1', 'u-1', 'revoked', 1{value})"
)


def test_single_app_rows_are_the_default_apps_and_the_ledger_is_unique_per_app(store: Store) -> None:
    migrate.upgrade(store, "0019")
    with store.unit_of_work() as session:
        session.execute(
            text(
                "INSERT INTO revocations (id, key, scope, priority_open_ids, status, planned, plan_done,"
                " rate_per_s, created_at) VALUES ('rev-a', 'rev-a', '{}', '[]', 'finished', 1, true, 0,"
                " CURRENT_TIMESTAMP)"
            )
        )
        session.execute(text(_LEDGER.format(app="", value="")))
        session.execute(text("INSERT INTO revocation_members (revocation_id, ledger_id) VALUES ('rev-a', 1)"))
        session.execute(
            text(
                "INSERT INTO revocation_batches (revocation_id, open_ids, done) VALUES ('rev-a', '[]', true)"
            )
        )
    migrate.upgrade(store)
    with store.unit_of_work() as session:
        apps = session.execute(
            text("SELECT l.app, b.app FROM revocation_ledger l, revocation_batches b")
        ).one()
        figures = flows.tally(session, revocation_id="rev-a").as_dict()["apps"]
    assert tuple(apps) == ("default", "default")
    counts = {"total": 1, "revoked": 1, "already_dead": 0, "failed": 0, "gone": 0, "pending": 0}
    assert figures == {"default": {**counts, "requests": 1}}
    with pytest.raises(IntegrityError), store.unit_of_work() as session:  # the previous release's insert
        session.execute(text(_LEDGER.format(app="", value="")))
    with store.unit_of_work() as session:  # the same token of another app is another row
        session.execute(text(_LEDGER.format(app=", app", value=", 'shop'")))
        rows = session.execute(text("SELECT app FROM revocation_ledger ORDER BY app")).scalars().all()
    assert rows == ["default", "shop"]
