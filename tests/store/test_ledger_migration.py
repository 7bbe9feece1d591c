"""Migration 0012 turns the per-revocation ledgers into one: existing rows are kept as members, and a
token two revocations held keeps one row, the settled one, so nothing already revoked is sent again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

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


def test_two_revocations_of_one_token_become_one_ledger_row_and_two_members(store: Store) -> None:
    migrate.upgrade(store, "0011")
    with store.unit_of_work() as session:
        for rev in ("rev-a", "rev-b"):
            session.execute(
                text(
                    "INSERT INTO revocations (id, key, scope, priority_open_ids, status, planned, plan_done,"
                    " rate_per_s, created_at) VALUES (:id, :id, '{}', '[]', 'finished', 2, true, 0,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": rev},
            )
        rows = [("rev-a", "fp1", "revoked"), ("rev-a", "fp2", "failed"), ("rev-b", "fp1", "already_dead"),
                ("rev-b", "fp2", "revoked")]  # fmt: skip
        for rev, fp, status in rows:
            session.execute(
                text(
                    "INSERT INTO revocation_ledger (revocation_id, fingerprint, open_id, status, attempts)"
                    " VALUES (:rev, :fp, :oid, :status, 1)"
                ),
                {"rev": rev, "fp": fp, "oid": f"u-{fp}", "status": status},
            )
    migrate.upgrade(store)
    with store.unit_of_work() as session:
        ledger: dict[str, str] = dict(
            session.execute(text("SELECT fingerprint, status FROM revocation_ledger")).all()
        )
        members = session.execute(
            text(
                "SELECT m.revocation_id, l.fingerprint FROM revocation_members m"
                " JOIN revocation_ledger l ON l.id = m.ledger_id ORDER BY 1, 2"
            )
        ).all()
    assert ledger == {"fp1": "revoked", "fp2": "revoked"}
    assert [tuple(m) for m in members] == [
        ("rev-a", "fp1"),
        ("rev-a", "fp2"),
        ("rev-b", "fp1"),
        ("rev-b", "fp2"),
    ]
