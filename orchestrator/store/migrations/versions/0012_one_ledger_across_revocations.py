"""one token ledger across revocations, with each revocation's members

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 19:00:00.000000

Each revocation kept a ledger of its own, so a token in the scope of several incidents was sent
to TikTok once per incident (three incidents over 2,000 tokens: 4,000 repeats). The ledger now
holds one row per fingerprint for every revocation, and ``revocation_members`` says which tokens
a revocation's scope holds. Existing rows are kept: every revocation's rows become its members,
and a fingerprint held by several revocations keeps one row (a settled one if any), the others'
members pointing at it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import orchestrator.store.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_RANK = {"revoked": 0, "already_dead": 1, "grant_lost": 2, "failed": 3, "gone": 4, "sending": 5, "pending": 6}


def upgrade() -> None:
    # The ledger is rebuilt on SQLite (a constraint goes): before anything references it.
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_status")
        batch_op.drop_index("ix_ledger_fingerprint")
        batch_op.drop_constraint("uq_ledger_revocation_fingerprint", type_="unique")
        batch_op.add_column(sa.Column("first", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_ledger_status", ["status", "first"], unique=False)
        batch_op.create_index("ix_ledger_open_id", ["open_id"], unique=False)
    op.create_table(
        "revocation_members",
        sa.Column("revocation_id", sa.String(length=32), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["revocation_id"], ["revocations.id"]),
        sa.ForeignKeyConstraint(["ledger_id"], ["revocation_ledger.id"]),
        sa.PrimaryKeyConstraint("revocation_id", "ledger_id"),
    )
    op.create_index("ix_revocation_members_ledger", "revocation_members", ["ledger_id"], unique=False)
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO revocation_members (revocation_id, ledger_id)"
            " SELECT revocation_id, id FROM revocation_ledger"
        )
    )
    _merge_duplicates(bind)
    op.create_index("uq_ledger_fingerprint", "revocation_ledger", ["fingerprint"], unique=True)
    # Plain ALTER TABLE ADD COLUMN: a batch would rebuild revocations, which the ledger references.
    op.add_column("revocations", sa.Column("milestone", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("revocations", sa.Column("slowed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column(
        "revocations", sa.Column("noted_at", orchestrator.store.db.UTCDateTime(timezone=True), nullable=True)
    )


def _merge_duplicates(bind: sa.Connection) -> None:
    """Keep one ledger row per fingerprint (the most settled, then the oldest); repoint members."""
    twice = bind.execute(
        sa.text("SELECT fingerprint FROM revocation_ledger GROUP BY fingerprint HAVING count(*) > 1")
    ).scalars()
    for fingerprint in list(twice):
        rows = bind.execute(
            sa.text("SELECT id, status FROM revocation_ledger WHERE fingerprint = :fp"), {"fp": fingerprint}
        ).all()
        keep = min(rows, key=lambda row: (_RANK.get(row.status, 9), row.id)).id
        others = [row.id for row in rows if row.id != keep]
        for other in others:
            bind.execute(
                sa.text("UPDATE revocation_members SET ledger_id = :keep WHERE ledger_id = :other"),
                {"keep": keep, "other": other},
            )
            bind.execute(sa.text("DELETE FROM revocation_ledger WHERE id = :other"), {"other": other})


def downgrade() -> None:
    op.drop_index("ix_revocation_members_ledger", table_name="revocation_members")
    op.drop_table("revocation_members")
    op.drop_index("uq_ledger_fingerprint", table_name="revocation_ledger")
    for column in ("noted_at", "slowed", "milestone"):  # not a batch: the ledger references revocations
        op.drop_column("revocations", column)
    with op.batch_alter_table("revocation_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_open_id")
        batch_op.drop_index("ix_ledger_status")
        batch_op.drop_column("first")
        batch_op.create_unique_constraint(
            "uq_ledger_revocation_fingerprint", ["revocation_id", "fingerprint"]
        )
        batch_op.create_index("ix_ledger_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_ledger_status", ["revocation_id", "status"], unique=False)
